//! Validation of a plugin file before `dlopen`: a truncated or corrupt shared library (an
//! interrupted `pip install` leaves one) makes the dynamic loader map pages past the end of
//! the file, and touching them kills the process with SIGBUS — no error can be returned. So
//! the file is read with plain `read`s first and must be a 64-bit little-endian ELF whose
//! program headers, loaded segments, section table and sections all lie within the file, with
//! `GetPjrtApi` defined in its dynamic symbol table.
//!
//! Used by [`crate::plugin::Plugin`] before loading any path and by discovery, which reports a
//! file that fails as skipped.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

const SHT_NOBITS: u32 = 8;
const SHT_DYNSYM: u32 = 11;
const PT_LOAD: u32 = 1;
/// Refuse to read an absurd dynamic symbol table (a corrupt header) into memory.
const MAX_TABLE_BYTES: u64 = 256 << 20;

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

fn read(f: &File, off: u64, len: u64, what: &str, size: u64) -> Result<Vec<u8>, String> {
    let end = off
        .checked_add(len)
        .ok_or_else(|| format!("{what} offset {off} + {len} overflows"))?;
    if end > size {
        return Err(format!(
            "{what} (bytes {off}..{end}) lies past the end of the {size}-byte file (truncated?)"
        ));
    }
    if len > MAX_TABLE_BYTES {
        return Err(format!("{what} is {len} bytes, implausibly large"));
    }
    let mut buf = vec![0u8; len as usize];
    f.read_exact_at(&mut buf, off)
        .map_err(|e| format!("reading {what}: {e}"))?;
    Ok(buf)
}

struct Section {
    kind: u32,
    offset: u64,
    size: u64,
    link: u32,
    entsize: u64,
}

/// Checks that `path` is a complete ELF shared library exporting `GetPjrtApi`; the error
/// says what is wrong (for the skip report or the explicit-path error).
pub fn validate(path: &Path) -> Result<(), String> {
    let f = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let size = f.metadata().map_err(|e| format!("cannot stat: {e}"))?.len();
    if size < 64 {
        return Err(format!(
            "the file is {size} bytes, too short for an ELF header (truncated?)"
        ));
    }
    let h = read(&f, 0, 64, "the ELF header", size)?;
    if &h[..4] != b"\x7fELF" {
        return Err("not an ELF file (bad magic number)".into());
    }
    if h[4] != 2 || h[5] != 1 {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let (phoff, shoff) = (u64_at(&h, 0x20), u64_at(&h, 0x28));
    let (phentsize, phnum) = (u16_at(&h, 0x36) as u64, u16_at(&h, 0x38) as u64);
    let (shentsize, shnum) = (u16_at(&h, 0x3A) as u64, u16_at(&h, 0x3C) as u64);
    if phentsize < 56 && phnum > 0 {
        return Err(format!(
            "program header entries of {phentsize} bytes are too small"
        ));
    }
    let ph = read(
        &f,
        phoff,
        phentsize * phnum,
        "the program header table",
        size,
    )?;
    for i in 0..phnum as usize {
        let e = &ph[i * phentsize as usize..];
        if u32_at(e, 0) != PT_LOAD {
            continue;
        }
        let (off, filesz) = (u64_at(e, 8), u64_at(e, 32));
        match off.checked_add(filesz) {
            Some(end) if end <= size => {}
            _ => {
                return Err(format!(
                    "loadable segment {i} (bytes {off}..{}) lies past the end of the \
                     {size}-byte file (truncated?)",
                    off.saturating_add(filesz)
                ))
            }
        }
    }
    if shnum == 0 {
        return Err("no section header table (cannot find the dynamic symbols)".into());
    }
    if shentsize < 64 {
        return Err(format!(
            "section header entries of {shentsize} bytes are too small"
        ));
    }
    let sh = read(
        &f,
        shoff,
        shentsize * shnum,
        "the section header table",
        size,
    )?;
    let mut sections = Vec::with_capacity(shnum as usize);
    for i in 0..shnum as usize {
        let e = &sh[i * shentsize as usize..];
        let s = Section {
            kind: u32_at(e, 4),
            offset: u64_at(e, 0x18),
            size: u64_at(e, 0x20),
            link: u32_at(e, 0x28),
            entsize: u64_at(e, 0x38),
        };
        if s.kind != SHT_NOBITS {
            match s.offset.checked_add(s.size) {
                Some(end) if end <= size => {}
                _ => {
                    return Err(format!(
                        "section {i} (bytes {}..{}) lies past the end of the {size}-byte file \
                         (truncated?)",
                        s.offset,
                        s.offset.saturating_add(s.size)
                    ))
                }
            }
        }
        sections.push(s);
    }
    let dynsym = sections
        .iter()
        .find(|s| s.kind == SHT_DYNSYM)
        .ok_or("no dynamic symbol table (.dynsym): not a shared library")?;
    let strtab = sections
        .get(dynsym.link as usize)
        .ok_or("the dynamic symbol table links to a missing string table")?;
    let syms = read(
        &f,
        dynsym.offset,
        dynsym.size,
        "the dynamic symbol table",
        size,
    )?;
    let names = read(
        &f,
        strtab.offset,
        strtab.size,
        "the dynamic string table",
        size,
    )?;
    let ent = if dynsym.entsize >= 24 {
        dynsym.entsize as usize
    } else {
        24
    };
    let want = b"GetPjrtApi";
    for sym in syms.chunks_exact(ent) {
        let name = u32_at(sym, 0) as usize;
        let shndx = u16_at(sym, 6);
        if shndx == 0 || name >= names.len() {
            continue;
        }
        let rest = &names[name..];
        let n = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
        if &rest[..n] == want {
            return Ok(());
        }
    }
    Err("GetPjrtApi is not defined in the dynamic symbol table: not a PJRT plugin".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_short_and_non_elf_files() {
        let dir = std::env::temp_dir().join(format!("rax-elf-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("short.so");
        std::fs::write(&p, b"\x7fELF").unwrap();
        assert!(validate(&p).unwrap_err().contains("too short"));
        std::fs::write(&p, vec![b'x'; 100]).unwrap();
        assert!(validate(&p).unwrap_err().contains("magic"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
