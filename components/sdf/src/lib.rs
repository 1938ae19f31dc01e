//! Microkit system descriptions (`.system` files): the data model, a parser
//! and a validator that accepts and rejects exactly what the Microkit 2.3.0
//! tool does.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod model;

pub use model::*;
