//! Executable serialization: compile, serialize, load the bytes back on a fresh client of the
//! same plugin, and run both; bytes that are not a serialization are an `Err`, not an abort.
mod common;

use common::*;

#[test]
fn serialized_executable_runs_like_the_compiled_one() {
    for (label, plugin, client) in clients() {
        let exe = compile(label, &client, ADD_ONE);
        // Both CPU plugins rax is tested against implement it (the cache relies on it).
        let bytes = exe.serialize().unwrap_or_else(|e| panic!("{label}: {e}"));
        assert!(bytes.len() > 64, "{label}: {} bytes", bytes.len());
        eprintln!("{label}: {} serialized bytes", bytes.len());
        let fresh = rax_pjrt::Client::new(&plugin).expect("second client");
        let loaded = fresh
            .deserialize_executable(&bytes, Some(ADD_ONE))
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(loaded.num_outputs(), 1, "{label}");
        assert_eq!(loaded.num_inputs(), Some(1), "{label}");
        let input: Vec<f32> = (0..8).map(|i| i as f32 * 0.5).collect();
        let x = upload_f32(&fresh, &input, &[8]);
        let out = loaded
            .execute(&[&x], &[])
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let want: Vec<f32> = input.iter().map(|v| v + 1.0).collect();
        assert_eq!(bytes_f32(&out[0].to_host().unwrap()), want, "{label}");
        // The signature from the program text is enforced on the loaded executable too.
        let wrong = upload_f32(&fresh, &[0.0; 4], &[4]);
        assert!(loaded.execute(&[&wrong], &[]).is_err(), "{label}");
    }
}

#[test]
fn garbage_bytes_are_an_error() {
    for (label, _plugin, client) in clients() {
        let e = client
            .deserialize_executable(b"not an executable at all", None)
            .err()
            .unwrap_or_else(|| panic!("{label}: garbage loaded"));
        eprintln!("{label}: {e}");
        assert!(
            e.to_string().contains("PJRT_Executable_DeserializeAndLoad"),
            "{label}: {e}"
        );
    }
}
