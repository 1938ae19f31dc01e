//! Test PDs for the host extensions (`tests/ext.rs`): event sources,
//! `wait_notified`, `pp_call_timeout`. The role is the PD's name.
//! Host only: on seL4 it builds (CI cross-compiles every bin of a
//! `cross = true` crate) but refuses to run.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(not(target_os = "none"))]
use microkit::{debug_println, Channel, ChannelSet, Handler, Infallible, MessageInfo};
#[cfg(not(target_os = "none"))]
use std::time::{Duration, Instant};

#[cfg(not(target_os = "none"))]
struct Pd {
    fd_events: u32,
    ticks: u32,
    read_fd: i32,
    started: Instant,
}

#[cfg(not(target_os = "none"))]
fn read_byte(fd: i32) -> bool {
    let mut b = [0u8; 1];
    // The test PD owns this pipe; a plain read of one byte.
    std::io::Read::read(&mut FdReader(fd), &mut b).is_ok_and(|n| n == 1)
}

#[cfg(not(target_os = "none"))]
struct FdReader(i32);

#[cfg(not(target_os = "none"))]
impl std::io::Read for FdReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::fd::{FromRawFd, IntoRawFd};
        // SAFETY: borrow the descriptor for one read, then hand it back
        // (into_raw_fd), so it is never closed here.
        let mut f = unsafe { std::fs::File::from_raw_fd(self.0) };
        let r = f.read(buf);
        let _ = f.into_raw_fd();
        r
    }
}

#[cfg(not(target_os = "none"))]
impl Handler for Pd {
    type Error = Infallible;

    fn notified(&mut self, channels: ChannelSet) -> Result<(), Infallible> {
        match microkit::pd_name() {
            "src" => {
                if channels.contains(Channel::new(5)) {
                    // One byte per event: the source raises again only after
                    // the ack, and again while bytes remain.
                    if read_byte(self.read_fd) {
                        self.fd_events += 1;
                    }
                    let _ = Channel::new(5).irq_ack();
                }
                if channels.contains(Channel::new(6)) {
                    self.ticks += 1;
                }
                if self.fd_events == 2 && self.ticks >= 3 {
                    let ms = self.started.elapsed().as_millis();
                    debug_println!("events fd={} ticks={} ms={ms}", self.fd_events, self.ticks);
                    microkit::stop();
                }
            }
            "waiter" => {
                debug_println!("loop got {}", channels.display());
                microkit::stop();
            }
            _ => {}
        }
        Ok(())
    }

    fn protected(&mut self, _ch: Channel, msg: MessageInfo) -> Result<MessageInfo, Infallible> {
        match microkit::pd_name() {
            "hang" => loop {
                std::thread::sleep(Duration::from_secs(3600));
            },
            _ => {
                microkit::set_mr(0, microkit::get_mr(0) + 1);
                Ok(MessageInfo::new(msg.label(), 1))
            }
        }
    }
}

#[cfg(not(target_os = "none"))]
fn init() -> Pd {
    let mut pd = Pd {
        fd_events: 0,
        ticks: 0,
        read_fd: -1,
        started: Instant::now(),
    };
    match microkit::pd_name() {
        "src" => {
            let (r, w) = std::os::unix::net::UnixStream::pair().expect("socket pair");
            use std::os::fd::IntoRawFd;
            pd.read_fd = r.into_raw_fd();
            microkit::host::irq_on_readable(Channel::new(5), pd.read_fd).expect("fd source");
            microkit::host::irq_every(Channel::new(6), Duration::from_millis(20)).expect("timer");
            // Channel 0 is a notification channel of the system: refused.
            let e = microkit::host::irq_every(Channel::new(0), Duration::from_millis(20));
            debug_println!("claim ch0: {e:?}");
            let e = microkit::host::irq_every(Channel::new(6), Duration::from_millis(20));
            debug_println!("claim ch6 twice: {e:?}");
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                let _ = std::io::Write::write_all(&mut &w, b"xy");
                std::thread::sleep(Duration::from_secs(3600));
            });
        }
        "waiter" => {
            let got = microkit::wait_notified(ChannelSet::from_bits(1));
            debug_println!("wait_notified got {}", got.display());
        }
        "poker" => {
            Channel::new(0).notify(); // the waiter's channel 1
            std::thread::sleep(Duration::from_millis(100));
            Channel::new(1).notify(); // the waiter's channel 0
            microkit::stop();
        }
        "caller" => {
            microkit::set_mr(0, 41);
            let r = Channel::new(0).pp_call_timeout(MessageInfo::new(3, 1), Duration::from_secs(5));
            debug_println!(
                "ok server: {:?} {}",
                r.map(|m| m.label()),
                microkit::get_mr(0)
            );
            let t = Instant::now();
            let r =
                Channel::new(1).pp_call_timeout(MessageInfo::new(0, 1), Duration::from_millis(200));
            debug_println!("hung server: {r:?} after {} ms", t.elapsed().as_millis());
            let t = Instant::now();
            let r =
                Channel::new(1).pp_call_timeout(MessageInfo::new(0, 1), Duration::from_millis(200));
            debug_println!("hung again: {r:?} after {} ms", t.elapsed().as_millis());
            let r =
                Channel::new(2).pp_call_timeout(MessageInfo::new(0, 1), Duration::from_millis(200));
            debug_println!("dead server: {r:?}");
            microkit::stop();
        }
        "dead" => {
            // Ends at once (a crash would stop the system under the default
            // policy; a clean stop leaves its callers with no answer).
            microkit::stop();
        }
        _ => {}
    }
    pd
}

#[cfg(target_os = "none")]
fn init() -> microkit::NullHandler {
    panic!("microkit-ext-testpd is a host-only test PD (host event sources)")
}

microkit::protection_domain!(init);
