//! Load, version, attributes, and `x + 1` on both CPU plugins.
mod common;

use common::*;
use rax_pjrt::ElementType;

#[test]
fn load_version_attributes() {
    for (label, plugin, client) in clients() {
        let (major, minor) = plugin.api_version();
        assert_eq!(major, 0, "{label}");
        assert!(minor >= 50, "{label}: minor {minor}");
        let info = plugin.info();
        eprintln!("{label}: {info}; attributes: {:?}", plugin.attributes());
        assert!(!plugin.attributes().is_empty(), "{label}: no attributes");
        assert_eq!(client.platform_name().unwrap(), "cpu", "{label}");
        let _ = client.platform_version().unwrap();
        let devices = client.addressable_devices().unwrap();
        assert!(!devices.is_empty(), "{label}");
        assert!(client.devices().unwrap().len() >= devices.len());
        let d = &devices[0];
        eprintln!(
            "{label}: device id={} kind={} hw={} mem={}",
            d.id().unwrap(),
            d.kind().unwrap(),
            d.local_hardware_id().unwrap(),
            d.default_memory_kind().unwrap_or_default()
        );
    }
}

#[test]
fn add_one_f32_8() {
    for (label, _plugin, client) in clients() {
        let exe = compile(label, &client, ADD_ONE);
        assert_eq!(exe.num_outputs(), 1, "{label}");
        assert_eq!(exe.num_inputs(), Some(1));
        let input: Vec<f32> = (0..8).map(|i| i as f32).collect();
        let x = upload_f32(&client, &input, &[8]);
        let out = exe
            .execute(&[&x], &[])
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].element_type().unwrap(), ElementType::F32);
        assert_eq!(out[0].dims().unwrap(), vec![8]);
        assert!(out[0].on_device_size().unwrap() >= 32);
        let got = bytes_f32(&out[0].to_host().unwrap());
        let want: Vec<f32> = input.iter().map(|v| v + 1.0).collect();
        assert_eq!(got, want, "{label}");
        // Input was not donated: still usable.
        assert!(!x.is_deleted().unwrap());
        assert_eq!(bytes_f32(&x.to_host().unwrap()), input);
    }
}
