//! Python's universal-newline line splitting over a byte stream.

use std::io::{self, Read};
use std::path::Path;

use super::DistributionError;

/// Splits a byte stream into lines with Python's universal-newline rule, calling `f` with each
/// line's bytes (terminator removed) and its 1-based number. Buffers one chunk plus one line.
pub(super) fn for_each_line<R: Read>(
    mut reader: R,
    mut f: impl FnMut(&[u8], u64) -> Result<(), DistributionError>,
    path: &Path,
) -> Result<u64, DistributionError> {
    const CHUNK: usize = 1 << 20;
    let io_err = |source| DistributionError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut buf = vec![0u8; CHUNK];
    // Bytes of a line that started in an earlier chunk.
    let mut carry: Vec<u8> = Vec::new();
    // The previous chunk ended with '\r': a '\n' starting this chunk belongs to that terminator.
    let mut pending_cr = false;
    let mut line_no = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        };
        let mut chunk = &buf[..n];
        if pending_cr {
            pending_cr = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        let mut start = 0;
        while let Some(offset) = find_eol(&chunk[start..]) {
            let i = start + offset;
            let b = chunk[i];
            line_no += 1;
            if carry.is_empty() {
                f(&chunk[start..i], line_no)?;
            } else {
                carry.extend_from_slice(&chunk[start..i]);
                f(&carry, line_no)?;
                carry.clear();
            }
            let mut end = i;
            if b == b'\r' {
                if i + 1 < chunk.len() {
                    if chunk[i + 1] == b'\n' {
                        end += 1;
                    }
                } else {
                    pending_cr = true;
                }
            }
            start = end + 1;
        }
        carry.extend_from_slice(&chunk[start..]);
    }
    if !carry.is_empty() {
        line_no += 1;
        f(&carry, line_no)?;
    }
    Ok(line_no)
}

/// The index of the first `\n` or `\r` in `bytes`, eight bytes at a time (SWAR).
#[inline]
fn find_eol(bytes: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let v = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let (nl, cr) = (v ^ (LO * u64::from(b'\n')), v ^ (LO * u64::from(b'\r')));
        // A zero byte in `nl` or `cr` marks a match; this test has no false positives below
        // the first true one, and trailing_zeros picks the lowest (= first) byte.
        let found = (nl.wrapping_sub(LO) & !nl & HI) | (cr.wrapping_sub(LO) & !cr & HI);
        if found != 0 {
            return Some(base + (found.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map(|p| base + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per call, to cross chunk boundaries.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn lines(text: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for step in [1, 2, 3, 1 << 20] {
            let mut got = Vec::new();
            for_each_line(
                Trickle { data: text, step },
                |l, _| {
                    got.push(String::from_utf8(l.to_vec()).unwrap());
                    Ok(())
                },
                Path::new("t"),
            )
            .unwrap();
            if step > 1 {
                assert_eq!(got, out, "step {step}");
            }
            out = got;
        }
        out
    }

    #[test]
    fn universal_newlines_like_python_text_mode() {
        assert_eq!(lines(b"A\nBB\nA\n"), ["A", "BB", "A"]);
        assert_eq!(lines(b"A\nBB"), ["A", "BB"]);
        assert_eq!(lines(b"A\r\nBB\r\n"), ["A", "BB"]);
        assert_eq!(lines(b"A\rBB\r"), ["A", "BB"]);
        assert_eq!(lines(b"A\r\r\nB"), ["A", "", "B"]);
        assert_eq!(lines(b"\n\n"), ["", ""]);
        assert_eq!(lines(b" A \t\n"), [" A \t"]);
        assert!(lines(b"").is_empty());
    }
}
