//! `vetted-sdcard --loader loader.img --board rpi4b_Ngb --out sdcard.img [--cache DIR]`

use std::path::PathBuf;
use std::process::ExitCode;
use vetted_sdcard::{build, default_cache, loader, loader::AddrSource, Error, Options};

const USAGE: &str = "\
usage: vetted-sdcard --loader LOADER.IMG --board rpi4b_Ngb --out SDCARD.IMG [options]

Builds a bootable Raspberry Pi 4 SD-card image: MBR + FAT32 boot partition with the Pi
firmware, U-Boot and device tree (Debian bookworm arm64 packages, fetched into the cache),
config.txt, boot.scr and the Microkit loader image.

  --loader FILE     Microkit loader image (raw loader.img from `microkit ... --board rpi4b_Ngb`)
  --board NAME      rpi4b_1gb, rpi4b_2gb, rpi4b_4gb or rpi4b_8gb (the Pi's RAM)
  --out FILE        image to write
  --cache DIR       package cache (default $XDG_CACHE_HOME/vetted-sdcard or ~/.cache/vetted-sdcard)
  --sdk DIR         Microkit SDK (default $MICROKIT_SDK): checks the image and gives its load address
  --load-addr ADDR  load/start address instead (skips the SDK check; the Pi 4 default is 0x10000000)
  --size-mib N      image size (default: smallest power of two >= 64 MiB that fits)
  --offline         use only the cache, never the network
  --tools           list the host programs needed and their Debian packages
";

fn parse(args: Vec<String>) -> Result<Option<Options>, Error> {
    let mut it = args.into_iter();
    let (mut loader_img, mut board, mut out, mut cache) = (None, None, None, None);
    let mut sdk = std::env::var_os("MICROKIT_SDK")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let (mut load_addr, mut size_mib, mut offline) = (None, None, false);
    while let Some(a) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .ok_or_else(|| Error::Usage(format!("{name} needs a value\n\n{USAGE}")))
        };
        match a.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(None);
            }
            "--tools" => {
                for t in vetted_sdcard::host::ALL {
                    println!("{} ({})", t.name, t.package);
                }
                return Ok(None);
            }
            "--loader" => loader_img = Some(PathBuf::from(val("--loader")?)),
            "--board" => board = Some(val("--board")?),
            "--out" => out = Some(PathBuf::from(val("--out")?)),
            "--cache" => cache = Some(PathBuf::from(val("--cache")?)),
            "--sdk" => sdk = Some(PathBuf::from(val("--sdk")?)),
            "--load-addr" => {
                let v = val("--load-addr")?;
                load_addr = Some(
                    loader::parse_addr(&v)
                        .ok_or_else(|| Error::Usage(format!("bad --load-addr `{v}`")))?,
                );
            }
            "--size-mib" => {
                let v = val("--size-mib")?;
                size_mib = Some(
                    v.parse()
                        .map_err(|_| Error::Usage(format!("bad --size-mib `{v}`")))?,
                );
            }
            "--offline" => offline = true,
            other => {
                return Err(Error::Usage(format!(
                    "unknown argument `{other}`\n\n{USAGE}"
                )))
            }
        }
    }
    Ok(Some(Options {
        loader: need(loader_img, "--loader")?,
        board: need(board, "--board")?,
        out: need(out, "--out")?,
        cache: cache.unwrap_or_else(default_cache),
        sdk,
        load_addr,
        size_mib,
        offline,
    }))
}

fn need<T>(v: Option<T>, name: &str) -> Result<T, Error> {
    v.ok_or_else(|| Error::Usage(format!("{name} is required\n\n{USAGE}")))
}

fn main() -> ExitCode {
    let opts = match parse(std::env::args().skip(1).collect()) {
        Ok(Some(o)) => o,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vetted-sdcard: {e}");
            return ExitCode::from(2);
        }
    };
    let mut log = |m: &str| eprintln!("vetted-sdcard: {m}");
    match build(&opts, &mut log) {
        Ok(r) => {
            let from = match &r.load.source {
                AddrSource::Given => "given with --load-addr".to_string(),
                AddrSource::Sdk { elf, config } => {
                    format!("entry of the SDK's {config} loader {}", elf.display())
                }
                AddrSource::BoardDefault => {
                    "Pi 4 default (no SDK to check the image against)".to_string()
                }
            };
            println!(
                "{}: {} MiB, board {}, loader.img at {:#x} ({from})",
                opts.out.display(),
                r.image.size >> 20,
                opts.board,
                r.load.addr
            );
            println!("boot partition: {}", r.image.files.join(" "));
            for v in &r.versions {
                println!("  from {v}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vetted-sdcard: {e}");
            ExitCode::FAILURE
        }
    }
}
