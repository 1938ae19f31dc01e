//! Microkit system descriptions (`.system` files): the data model, a parser
//! and a validator that accepts and rejects exactly what the Microkit 2.3.0
//! tool does.
//!
//! ```
//! let text = r#"<system>
//!     <memory_region name="buf" size="0x1000" />
//!     <protection_domain name="client" priority="1">
//!         <program_image path="client.elf" />
//!         <map mr="buf" vaddr="0x4000000" perms="rw" setvar_vaddr="buf" />
//!     </protection_domain>
//!     <protection_domain name="server" priority="2" passive="true">
//!         <program_image path="server.elf" />
//!     </protection_domain>
//!     <channel>
//!         <end pd="client" id="0" pp="true" />
//!         <end pd="server" id="3" />
//!     </channel>
//! </system>"#;
//! let sd = sdf::parse(text, "example.system", &sdf::Config::default()).unwrap();
//! assert_eq!(sd.protection_domains[1].name, "server");
//! assert!(sd.channels[0].end_a.pp);
//!
//! let bad = text.replace(r#"id="3""#, r#"id="62""#);
//! let err = sdf::parse(&bad, "example.system", &sdf::Config::default()).unwrap_err();
//! assert_eq!(err.to_string(), "example.system:12:9: id must be < 62 on element 'end' (found 62)");
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]
// Errors are rare and carry names and ranges for good messages; their size
// (about 160 bytes) does not matter on the error path.
#![allow(clippy::result_large_err)]

pub mod config;
pub mod error;
pub mod model;
mod parse;

pub use config::{Arch, Config};
pub use error::{ErrorKind, SdfError};
pub use model::*;
pub use parse::{
    parse, parse_file, BUDGET_DEFAULT, CAP_MAP_MAX_SLOT, MAX_IOVA, MAX_PDS, MONITOR_PD_NAME,
    PD_DEFAULT_STACK_SIZE, PD_MAX_ID, PD_MAX_NAME_LENGTH, PD_MAX_PRIORITY, PD_MAX_STACK_SIZE,
    PD_MIN_STACK_SIZE, X86_IRQ_VECTOR_MAX,
};
