//! Host round-trip of every element type and pre-call validation.
mod common;

use common::*;
use rax_pjrt::{ElementType, Error};

#[test]
fn host_round_trip_every_element_type() {
    for (label, _plugin, client) in clients() {
        let dev = client.default_device().unwrap();
        for ty in ElementType::ALL {
            let dims = [2i64, 3];
            let n = 6 * ty.byte_size();
            // PRED must hold 0/1; other types take any bit pattern except
            // we avoid NaN payload canonicalization by using small bytes.
            let bytes: Vec<u8> = (0..n)
                .map(|i| {
                    if ty == ElementType::Pred {
                        (i % 2) as u8
                    } else {
                        (i % 61) as u8
                    }
                })
                .collect();
            let b = client
                .buffer_from_host(&bytes, ty, &dims, &dev)
                .unwrap_or_else(|e| panic!("{label} {ty:?}: {e}"));
            assert_eq!(b.element_type().unwrap(), ty, "{label}");
            assert_eq!(b.dims().unwrap(), dims, "{label} {ty:?}");
            assert_eq!(b.to_host().unwrap(), bytes, "{label} {ty:?}");
        }
    }
}

#[test]
fn scalar_and_empty_shapes() {
    for (label, _plugin, client) in clients() {
        let s = upload_f32(&client, &[2.5], &[]);
        assert_eq!(bytes_f32(&s.to_host().unwrap()), vec![2.5], "{label}");
        let e = upload_f32(&client, &[], &[0, 4]);
        assert!(e.to_host().unwrap().is_empty(), "{label}");
    }
}

#[test]
fn validation_before_the_plugin() {
    for (label, _plugin, client) in clients() {
        let dev = client.default_device().unwrap();
        let r = client.buffer_from_host(&[0u8; 12], ElementType::F32, &[4], &dev);
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{label}");
        let r = client.buffer_from_host(&[], ElementType::F32, &[-1], &dev);
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{label}");

        let exe = compile(label, &client, ADD_ONE);
        let x = upload_f32(&client, &[0.0; 8], &[8]);
        let wrong_shape = upload_f32(&client, &[0.0; 4], &[4]);
        let err = exe.execute(&[], &[]).unwrap_err();
        assert!(err.to_string().contains("takes 1 inputs"), "{label}: {err}");
        let err = exe.execute(&[&x, &x], &[]).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{label}");
        let err = exe.execute(&[&wrong_shape], &[]).unwrap_err();
        assert!(err.to_string().contains("dims"), "{label}: {err}");
        let err = exe.execute(&[&x], &[true, false]).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{label}");

        let dev_b = client.default_device().unwrap();
        let ints = client
            .buffer_from_host(&[0u8; 32], ElementType::S32, &[8], &dev_b)
            .unwrap();
        let err = exe.execute(&[&ints], &[]).unwrap_err();
        assert!(err.to_string().contains("F32"), "{label}: {err}");

        // Buffers from another client are rejected.
        let other = rax_pjrt::Client::new(client.plugin()).unwrap();
        let foreign = upload_f32(&other, &[0.0; 8], &[8]);
        let err = exe.execute(&[&foreign], &[]).unwrap_err();
        assert!(
            err.to_string().contains("different client"),
            "{label}: {err}"
        );

        // Explicit delete: later use is an error, not a crash.
        x.delete().unwrap();
        assert!(x.is_deleted().unwrap());
        assert!(matches!(x.to_host(), Err(Error::BufferDeleted)), "{label}");
        assert!(
            matches!(exe.execute(&[&x], &[]), Err(Error::BufferDeleted)),
            "{label}"
        );
    }
}
