//! `vetted`: run a Microkit system on Linux, or check its description.
//!
//! ```text
//! vetted check SYSTEM.system [--board B] [--search-path DIR]
//! vetted run   SYSTEM.system [--image-dir DIR] [--on-crash stop|restart]
//!              [--max-restarts N] [--sched nice|fifo|none] [--timeout SECS]
//!              [--board B] [--search-path DIR]
//! ```
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use microkit::runner::{self, CrashPolicy, Options, Sched};

const USAGE: &str = "\
usage: vetted check SYSTEM.system [--board B] [--search-path DIR]
       vetted run SYSTEM.system [--image-dir DIR] [--on-crash stop|restart]
                  [--max-restarts N] [--sched nice|fifo|none] [--timeout SECS]
                  [--board B] [--search-path DIR]

check  validates the system description as the Microkit 2.3.0 tool does and
       exits non-zero with the first error (file:line:column: rule).
run    validates it, then starts every protection domain as a Linux process
       (the host backend). A program image `foo.elf` is the host binary `foo`
       in --image-dir (default: the directory holding this vetted binary,
       i.e. the cargo target directory, e.g. target/debug).
       --on-crash    stop (default): a crash stops the system, exit status 1;
                     restart: restart the crashed PD (--max-restarts, default 5)
       --sched       nice (default): priorities as nice values 0..19;
                     fifo: SCHED_FIFO where permitted; none: leave as is
       --timeout     stop every PD after SECS seconds (exit status 0)
       The run ends (status 0) when every active (non-passive) PD has stopped.
       Ctrl-C / SIGTERM stop every PD (status 130 / 143).
--board        a Microkit 2.3.0 board name (qemu_virt_aarch64 default, rpi4b, ...):
               kernel facts for validation
--search-path  directory searched for prefill_path files (repeatable)";

struct Args {
    command: String,
    system: PathBuf,
    image_dir: Option<PathBuf>,
    on_crash: CrashPolicy,
    max_restarts: u32,
    sched: Sched,
    timeout: Option<Duration>,
    config: sdf::Config,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let command = it.next().ok_or("missing command")?;
    if command != "run" && command != "check" {
        return Err(format!("unknown command {command:?}"));
    }
    let mut system = None;
    let mut a = Args {
        command,
        system: PathBuf::new(),
        image_dir: None,
        on_crash: CrashPolicy::Stop,
        max_restarts: 5,
        sched: Sched::Nice,
        timeout: None,
        config: sdf::Config::default(),
    };
    let mut search_paths = Vec::new();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--image-dir" => a.image_dir = Some(value("--image-dir")?.into()),
            "--on-crash" => {
                a.on_crash = match value("--on-crash")?.as_str() {
                    "stop" => CrashPolicy::Stop,
                    "restart" => CrashPolicy::Restart,
                    v => return Err(format!("--on-crash: expected stop or restart, not {v:?}")),
                }
            }
            "--max-restarts" => {
                a.max_restarts = value("--max-restarts")?
                    .parse()
                    .map_err(|_| "--max-restarts: not a number")?
            }
            "--sched" => {
                a.sched = match value("--sched")?.as_str() {
                    "nice" => Sched::Nice,
                    "fifo" => Sched::Fifo,
                    "none" => Sched::None,
                    v => return Err(format!("--sched: expected nice, fifo or none, not {v:?}")),
                }
            }
            "--timeout" => {
                let secs: f64 = value("--timeout")?
                    .parse()
                    .map_err(|_| "--timeout: not a number")?;
                a.timeout =
                    Some(Duration::try_from_secs_f64(secs).map_err(|_| "--timeout: out of range")?);
            }
            "--board" => {
                let board = value("--board")?;
                a.config = sdf::Config::for_board(&board)
                    .ok_or_else(|| format!("--board: unknown Microkit board {board:?}"))?;
            }
            "--search-path" => search_paths.push(PathBuf::from(value("--search-path")?)),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s if system.is_none() => system = Some(PathBuf::from(s)),
            s => return Err(format!("unexpected argument {s:?}")),
        }
    }
    // As the Microkit tool does: the current directory is searched last.
    search_paths.push(PathBuf::from("."));
    a.config.search_paths = search_paths;
    a.system = system.ok_or("missing SYSTEM.system")?;
    Ok(a)
}

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1).peekable();
    if matches!(
        argv.peek().map(String::as_str),
        None | Some("-h" | "--help" | "help")
    ) {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let args = match parse_args(argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("vetted: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let system = match sdf::parse_file(&args.system, &args.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    for w in &system.warnings {
        eprintln!("warning: {w}");
    }
    if args.command == "check" {
        println!(
            "{}: ok ({} protection domains, {} memory regions, {} channels)",
            args.system.display(),
            system.protection_domains.len(),
            system.memory_regions.len(),
            system.channels.len()
        );
        return ExitCode::SUCCESS;
    }
    let image_dir = args.image_dir.unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("."))
    });
    let mut opts = Options::new(image_dir);
    opts.on_crash = args.on_crash;
    opts.max_restarts = args.max_restarts;
    opts.sched = args.sched;
    opts.timeout = args.timeout;
    match runner::run(&system, &opts) {
        Ok(outcome) => ExitCode::from(u8::try_from(outcome.exit_code()).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
