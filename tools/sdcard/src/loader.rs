//! Boards and the Microkit loader image: which address U-Boot must load it to.

use crate::elf;
use crate::error::{io, Error, Result};
use std::path::{Path, PathBuf};

/// The Raspberry Pi 4 boards of Microkit 2.x, one per RAM size (seL4 knows RAM statically).
pub const BOARDS: [(&str, u32); 4] = [
    ("rpi4b_1gb", 1),
    ("rpi4b_2gb", 2),
    ("rpi4b_4gb", 4),
    ("rpi4b_8gb", 8),
];

/// The loader's link address for every Pi 4 board of Microkit 2.3.0 (`loader_link_address` in
/// its build_sdk.py; the Microkit manual's `go 0x10000000`). Used when no SDK is at hand.
pub const DEFAULT_LOAD_ADDR: u64 = 0x1000_0000;

/// RAM size in GiB of a board name, or an error for anything else.
pub fn board_ram_gib(board: &str) -> Result<u32> {
    BOARDS
        .iter()
        .find(|(b, _)| *b == board)
        .map(|(_, g)| *g)
        .ok_or_else(|| Error::UnknownBoard(board.to_string()))
}

/// Where the load address came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrSource {
    /// Given on the command line.
    Given,
    /// The entry point of the SDK's loader ELF whose code the image starts with.
    Sdk {
        /// The loader ELF.
        elf: PathBuf,
        /// Its configuration (debug, release, ...).
        config: String,
    },
    /// No SDK: the board's known link address.
    BoardDefault,
}

/// The address to load the image to, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadAddr {
    /// Physical address for `fatload` and `go`.
    pub addr: u64,
    /// Where it came from.
    pub source: AddrSource,
}

/// Checks the loader image and works out its load address.
///
/// With an SDK, every `board/<board>/<config>/elf/loader.elf` is read; the image must start
/// with the loaded segment of one of them, byte for byte (Microkit writes it first), and that
/// ELF's segment address is the load address. This catches an image built for another board.
pub fn load_addr(
    image: &[u8],
    board: &str,
    sdk: Option<&Path>,
    given: Option<u64>,
) -> Result<LoadAddr> {
    board_ram_gib(board)?;
    if image.is_empty() {
        return Err(Error::BadLoader("the file is empty".into()));
    }
    if image.starts_with(b"\x7fELF") {
        return Err(Error::BadLoader(
            "this is an ELF file; give the raw loader.img the Microkit tool writes for rpi4b"
                .into(),
        ));
    }
    if let Some(addr) = given {
        return Ok(LoadAddr {
            addr,
            source: AddrSource::Given,
        });
    }
    let Some(sdk) = sdk else {
        return Ok(LoadAddr {
            addr: DEFAULT_LOAD_ADDR,
            source: AddrSource::BoardDefault,
        });
    };
    let dir = sdk.join("board").join(board);
    let mut configs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(io("cannot list the SDK's board directory", &dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    configs.sort();
    let mut seen = 0;
    for c in configs {
        let elf_path = c.join("elf/loader.elf");
        let Ok(data) = std::fs::read(&elf_path) else {
            continue;
        };
        seen += 1;
        let l = elf::parse(&elf_path, &data)?;
        // The Microkit tool copies the loader's segment unchanged to the start of the image
        // (then appends its header and the regions), so the whole segment must match: a prefix
        // is not enough, loaders of different boards begin with the same position-independent
        // start-up code.
        let n = l.first_bytes.len();
        if n > 0 && image.len() >= n && image[..n] == l.first_bytes[..] {
            if l.entry != l.lowest_paddr {
                return Err(Error::LoaderMismatch(format!(
                    "{}: entry {:#x} is not the start of the image {:#x}; give --load-addr",
                    elf_path.display(),
                    l.entry,
                    l.lowest_paddr
                )));
            }
            let config = c
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            // The loader is the same for every Pi 4 RAM size; the kernel is not (seL4 knows the
            // RAM statically). Microkit embeds the kernel's segment unchanged: look for it.
            if let Some(found) = kernel_board(image, sdk, &config, board)? {
                if found != board {
                    return Err(Error::LoaderMismatch(format!(
                        "the image holds the seL4 kernel of {found} ({config}), not of {board}: \
                         build the system with --board {board}, or use --board {found}"
                    )));
                }
            }
            return Ok(LoadAddr {
                addr: l.lowest_paddr,
                source: AddrSource::Sdk {
                    config,
                    elf: elf_path,
                },
            });
        }
    }
    if seen == 0 {
        return Err(Error::LoaderMismatch(format!(
            "the SDK has no loader for {board} in {}",
            dir.display()
        )));
    }
    Err(Error::LoaderMismatch(format!(
        "the loader image does not start with the code of any {board} loader of the SDK in {} \
         (built for another board, or with another SDK?); rebuild it with --board {board}, or \
         give --load-addr to skip this check",
        dir.display()
    )))
}

/// Which Pi 4 board's seL4 kernel (of `config`) the image embeds, starting with `board`.
/// `None` when the SDK has no kernel ELF to compare with.
fn kernel_board(image: &[u8], sdk: &Path, config: &str, board: &str) -> Result<Option<String>> {
    let mut order: Vec<&str> = vec![board];
    order.extend(BOARDS.iter().map(|(b, _)| *b).filter(|b| *b != board));
    let mut compared = false;
    for b in order {
        let path = sdk.join("board").join(b).join(config).join("elf/sel4.elf");
        let Ok(data) = std::fs::read(&path) else {
            continue;
        };
        compared = true;
        let k = elf::parse(&path, &data)?;
        if contains(image, &k.first_bytes) {
            return Ok(Some(b.to_string()));
        }
    }
    if compared {
        Err(Error::LoaderMismatch(format!(
            "the image starts with the SDK's {board} {config} loader but holds none of the SDK's \
             Pi 4 {config} seL4 kernels (built with another SDK?); give --load-addr to skip \
             this check"
        )))
    } else {
        Ok(None)
    }
}

/// Whether `needle` occurs in `hay` (search on a 32-byte prefix, then compare).
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    let p = &needle[..needle.len().min(32)];
    hay.windows(p.len())
        .enumerate()
        .filter(|(_, w)| *w == p)
        .any(|(i, _)| hay.get(i..i + needle.len()) == Some(needle))
}

/// Parses `0x10000000` or a decimal number.
pub fn parse_addr(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(&h.replace('_', ""), 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::tests::tiny_elf;

    fn fake_sdk(board: &str, code: &[u8]) -> tempfile::TempDir {
        let sdk = tempfile::tempdir().unwrap();
        for config in ["debug", "release"] {
            let d = sdk
                .path()
                .join("board")
                .join(board)
                .join(config)
                .join("elf");
            std::fs::create_dir_all(&d).unwrap();
            let mut c = code.to_vec();
            c.push(config.len() as u8); // configs differ after the shared prefix
            std::fs::write(d.join("loader.elf"), tiny_elf(0x1000_0000, &c)).unwrap();
        }
        sdk
    }

    fn add_kernel(sdk: &Path, board: &str, config: &str, code: &[u8]) {
        let d = sdk.join("board").join(board).join(config).join("elf");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("sel4.elf"), tiny_elf(0x1000, code)).unwrap();
    }

    #[test]
    fn address_from_the_matching_sdk_loader() {
        let code = [7u8; 80];
        let sdk = fake_sdk("rpi4b_2gb", &code);
        let mut image = code.to_vec();
        image.push(b"release".len() as u8);
        image.extend_from_slice(b"header and regions");
        let a = load_addr(&image, "rpi4b_2gb", Some(sdk.path()), None).unwrap();
        assert_eq!(a.addr, 0x1000_0000);
        match a.source {
            AddrSource::Sdk { config, .. } => assert_eq!(config, "release"),
            other => panic!("{other:?}"),
        }
        // The same start-up code but another loader after it (another board): refused.
        let mut other = code.to_vec();
        other.push(99);
        other.extend_from_slice(b"header and regions");
        assert!(load_addr(&other, "rpi4b_2gb", Some(sdk.path()), None).is_err());
    }

    #[test]
    fn kernel_of_another_ram_size_is_refused() {
        let code = [7u8; 80];
        let sdk = fake_sdk("rpi4b_2gb", &code);
        add_kernel(
            sdk.path(),
            "rpi4b_2gb",
            "debug",
            b"kernel for two gigabytes",
        );
        add_kernel(
            sdk.path(),
            "rpi4b_8gb",
            "debug",
            b"kernel for eight gigabytes",
        );
        let mut image = code.to_vec();
        image.push(b"debug".len() as u8);
        image.extend_from_slice(b"header..kernel for eight gigabytes..regions");
        let e = load_addr(&image, "rpi4b_2gb", Some(sdk.path()), None).unwrap_err();
        assert!(e.to_string().contains("of rpi4b_8gb"), "{e}");
        let mut image = code.to_vec();
        image.push(b"debug".len() as u8);
        image.extend_from_slice(b"header..kernel for two gigabytes..regions");
        assert_eq!(
            load_addr(&image, "rpi4b_2gb", Some(sdk.path()), None)
                .unwrap()
                .addr,
            0x1000_0000
        );
        let mut image = code.to_vec();
        image.push(b"debug".len() as u8);
        image.extend_from_slice(b"header..some other kernel..regions");
        assert!(load_addr(&image, "rpi4b_2gb", Some(sdk.path()), None).is_err());
    }

    #[test]
    fn image_of_another_board_is_refused() {
        let sdk = fake_sdk("rpi4b_2gb", &[7u8; 80]);
        let e = load_addr(&[9u8; 200], "rpi4b_2gb", Some(sdk.path()), None).unwrap_err();
        assert!(matches!(e, Error::LoaderMismatch(_)), "{e}");
        // ... unless the address is given explicitly.
        let a = load_addr(
            &[9u8; 200],
            "rpi4b_2gb",
            Some(sdk.path()),
            Some(0x2000_0000),
        )
        .unwrap();
        assert_eq!((a.addr, a.source), (0x2000_0000, AddrSource::Given));
    }

    #[test]
    fn boards_and_bad_images() {
        assert!(matches!(
            load_addr(b"x", "rpi3b", None, None),
            Err(Error::UnknownBoard(_))
        ));
        assert!(matches!(
            load_addr(b"", "rpi4b_1gb", None, None),
            Err(Error::BadLoader(_))
        ));
        assert!(matches!(
            load_addr(&tiny_elf(0, b"x"), "rpi4b_1gb", None, None),
            Err(Error::BadLoader(_))
        ));
        let a = load_addr(b"x", "rpi4b_8gb", None, None).unwrap();
        assert_eq!(
            (a.addr, a.source),
            (DEFAULT_LOAD_ADDR, AddrSource::BoardDefault)
        );
        assert_eq!(board_ram_gib("rpi4b_4gb").unwrap(), 4);
    }

    #[test]
    fn addresses_parse() {
        assert_eq!(parse_addr("0x10000000"), Some(0x1000_0000));
        assert_eq!(parse_addr("0x1000_0000"), Some(0x1000_0000));
        assert_eq!(parse_addr("4096"), Some(4096));
        assert_eq!(parse_addr("0xzz"), None);
    }
}
