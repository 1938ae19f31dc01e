//! Test support: a real Linux kernel as a network peer.
//!
//! [`Guest::boot`] fetches Debian's stock cloud kernel (`apt-get download`,
//! unpacked into a cache, never installed), builds a small initramfs with
//! busybox, iproute2's `ip` and the kernel modules for IPsec ESP, boots it in
//! QEMU (KVM when usable, else TCG) and drives it over the serial console.
//! The guest's virtio NIC is linked by QEMU's `-netdev dgram` to a UDP socket
//! on loopback, which [`UdpEthernet`] presents as a smoltcp Ethernet device;
//! [`Stack`] runs a smoltcp interface on it (ping, TCP echo).
//!
//! ```no_run
//! use linuxvm::{Guest, GuestConfig, Stack};
//! use smoltcp::wire::{IpAddress, IpCidr, Ipv4Address};
//! let Some(mut guest) = Guest::boot_or_skip(&GuestConfig::default()) else { return };
//! guest.run("ip addr add 192.0.2.2/24 dev eth0 && ip link set eth0 up").unwrap();
//! let link = guest.take_link().unwrap();
//! let handle = link.handle();
//! let mut stack = Stack::new(link, handle, [2, 0, 0, 0, 0, 1],
//!     IpCidr::new(IpAddress::v4(192, 0, 2, 1), 24));
//! stack.ping(Ipv4Address::new(192, 0, 2, 2), 3, std::time::Duration::from_secs(5)).unwrap();
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod cpio;
mod error;
pub mod guest;
pub mod initramfs;
pub mod kernel;
pub mod stack;
pub mod udp;

pub use error::Error;
pub use guest::{Accel, Guest, GuestConfig, Output};
pub use stack::Stack;
pub use udp::{LinkHandle, UdpEthernet};
