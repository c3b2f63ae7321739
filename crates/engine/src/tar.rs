//! A minimal POSIX ustar writer for access-request archives: regular files only, written
//! whole into memory (archives are bounded by the caller). Read by any `tar`.

/// Appends one file entry (`name` at most 100 bytes of ASCII).
pub(crate) fn append(out: &mut Vec<u8>, name: &str, contents: &[u8], mtime_s: u64) {
    let mut header = [0u8; 512];
    let name = name.as_bytes();
    let n = name.len().min(100);
    header[..n].copy_from_slice(&name[..n]);
    octal(&mut header[100..108], 0o644);
    octal(&mut header[108..116], 0);
    octal(&mut header[116..124], 0);
    octal(&mut header[124..136], contents.len() as u64);
    octal(&mut header[136..148], mtime_s);
    header[148..156].copy_from_slice(b"        ");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    let sum: u64 = header.iter().map(|b| u64::from(*b)).sum();
    octal(&mut header[148..155], sum);
    header[155] = b' ';
    out.extend_from_slice(&header);
    out.extend_from_slice(contents);
    let pad = (512 - contents.len() % 512) % 512;
    out.extend(std::iter::repeat_n(0u8, pad));
}

/// Ends the archive (two zero blocks).
pub(crate) fn finish(out: &mut Vec<u8>) {
    out.extend(std::iter::repeat_n(0u8, 1024));
}

/// Zero-padded octal filling the field but its last byte (a NUL).
fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    let bytes = text.as_bytes();
    let start = bytes.len().saturating_sub(width);
    field[..width].copy_from_slice(&bytes[start..]);
    field[width] = 0;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_system_tar_reads_what_we_write() {
        let mut out = Vec::new();
        super::append(&mut out, "a/events.ndjson", b"{\"x\":1}\n", 1_700_000_000);
        super::append(&mut out, "README.txt", &vec![b'r'; 1000], 1_700_000_000);
        super::finish(&mut out);
        assert_eq!(out.len() % 512, 0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tar");
        std::fs::write(&path, &out).unwrap();
        let Ok(listing) = std::process::Command::new("tar")
            .arg("-tvf")
            .arg(&path)
            .output()
        else {
            return;
        };
        assert!(
            listing.status.success(),
            "{}",
            String::from_utf8_lossy(&listing.stderr)
        );
        let text = String::from_utf8_lossy(&listing.stdout);
        assert!(
            text.contains("a/events.ndjson")
                && text.contains("README.txt")
                && text.contains("1000"),
            "{text}"
        );
    }
}
