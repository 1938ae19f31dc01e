//! A writer for the `newc` cpio format, the format the Linux kernel unpacks
//! as an initramfs (`Documentation/driver-api/early-userspace/buffer-format.rst`).

use std::collections::BTreeSet;

/// File type bits of `st_mode`.
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// An in-memory `newc` archive under construction.
///
/// Parent directories are created on demand, each path is written once (the
/// first entry wins), and [`Archive::finish`] appends the trailer.
#[derive(Debug, Default)]
pub struct Archive {
    out: Vec<u8>,
    seen: BTreeSet<String>,
    ino: u32,
}

impl Archive {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a directory (and its missing parents).
    pub fn dir(&mut self, path: &str) {
        let path = path.trim_matches('/');
        if path.is_empty() || self.seen.contains(path) {
            return;
        }
        self.parents(path);
        self.entry(path, S_IFDIR | 0o755, 2, (0, 0), &[]);
    }

    /// Adds a regular file with permission bits `perm` (e.g. `0o755`).
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) {
        let path = path.trim_matches('/');
        if self.seen.contains(path) {
            return;
        }
        self.parents(path);
        self.entry(path, S_IFREG | (perm & 0o7777), 1, (0, 0), data);
    }

    /// Adds a symbolic link at `path` pointing to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) {
        let path = path.trim_matches('/');
        if self.seen.contains(path) {
            return;
        }
        self.parents(path);
        self.entry(path, S_IFLNK | 0o777, 1, (0, 0), target.as_bytes());
    }

    /// Adds a character device node.
    pub fn char_dev(&mut self, path: &str, perm: u32, major: u32, minor: u32) {
        let path = path.trim_matches('/');
        if self.seen.contains(path) {
            return;
        }
        self.parents(path);
        self.entry(path, S_IFCHR | (perm & 0o7777), 1, (major, minor), &[]);
    }

    /// Whether `path` is already in the archive.
    pub fn contains(&self, path: &str) -> bool {
        self.seen.contains(path.trim_matches('/'))
    }

    /// Appends the trailer and returns the archive bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.header("TRAILER!!!", 0, 1, (0, 0), 0, 0);
        self.out.extend_from_slice(b"TRAILER!!!\0");
        self.pad();
        self.out
    }

    fn parents(&mut self, path: &str) {
        let mut acc = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(part);
            if !self.seen.contains(acc.as_str()) {
                let p = acc.clone();
                self.entry(&p, S_IFDIR | 0o755, 2, (0, 0), &[]);
            }
        }
    }

    fn entry(&mut self, path: &str, mode: u32, nlink: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let ino = self.ino;
        // newc sizes are 32-bit; initramfs members here are far smaller.
        let size = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.header(path, mode, nlink, rdev, size, ino);
        self.out.extend_from_slice(path.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
        self.seen.insert(path.to_string());
    }

    fn header(&mut self, name: &str, mode: u32, nlink: u32, rdev: (u32, u32), size: u32, ino: u32) {
        let namesize = u32::try_from(name.len() + 1).unwrap_or(u32::MAX);
        let fields = [
            ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev.0, rdev.1, namesize, 0,
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(rec: &[u8], i: usize) -> u32 {
        let s = std::str::from_utf8(&rec[6 + 8 * i..14 + 8 * i]).unwrap();
        u32::from_str_radix(s, 16).unwrap()
    }

    #[test]
    fn layout_of_one_file_and_trailer() {
        let mut a = Archive::new();
        a.file("init", 0o755, b"hello");
        let out = a.finish();
        assert_eq!(&out[..6], b"070701");
        assert_eq!(field(&out, 1), S_IFREG | 0o755);
        assert_eq!(field(&out, 6), 5); // file size
        assert_eq!(field(&out, 11), 5); // "init\0"
                                        // header 110 + name 5 = 115, padded to 116; data 5 padded to 8.
        assert_eq!(&out[110..115], b"init\0");
        assert_eq!(&out[116..121], b"hello");
        let trailer = &out[124..];
        assert_eq!(&trailer[..6], b"070701");
        assert_eq!(&trailer[110..121], b"TRAILER!!!\0");
        assert_eq!(out.len() % 4, 0);
    }

    #[test]
    fn parents_created_once_and_first_entry_wins() {
        let mut a = Archive::new();
        a.file("a/b/c", 0o644, b"1");
        a.file("a/b/c", 0o644, b"22");
        a.symlink("a/b/d", "c");
        a.char_dev("dev/console", 0o600, 5, 1);
        assert!(a.contains("a") && a.contains("a/b") && a.contains("/a/b/c/"));
        let out = a.finish();
        let text = String::from_utf8_lossy(&out);
        assert_eq!(text.matches("a/b\0").count(), 1);
        assert_eq!(text.matches("a/b/c\0").count(), 1);
        assert!(!text.contains("22"));
        // the device node carries its numbers in rdevmajor/rdevminor
        let pos = out.windows(12).position(|w| w == b"dev/console\0").unwrap();
        let rec = &out[pos - 110..];
        assert_eq!(field(rec, 1), S_IFCHR | 0o600);
        assert_eq!((field(rec, 9), field(rec, 10)), (5, 1));
    }
}
