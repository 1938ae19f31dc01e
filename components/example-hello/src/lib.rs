//! The interface between the example PDs `hello-client` and
//! `hello-server` (see `system/example.system`): defined once, used by both.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

/// Channel id of the client's end (it calls and notifies the server).
pub const CLIENT_TO_SERVER: usize = 0;
/// Channel id of the server's end.
pub const SERVER_TO_CLIENT: usize = 0;
/// Name (the `setvar_vaddr` symbol) of the shared request buffer.
pub const RPC_BUFFER: &str = "rpc_buffer";
/// Largest encoded request or response.
pub const MAX_MESSAGE: usize = 256;

/// A request to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Add two numbers.
    Add(u32, u32),
    /// Divide `0` by `1`.
    Divide(u32, u32),
    /// How many requests and notifications the server has seen.
    Stats,
}

/// A reply from the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// A result.
    Value(u32),
    /// Counters.
    Stats {
        /// Requests answered before this one.
        requests: u32,
        /// Notifications received.
        notifications: u32,
    },
}

/// Application-level errors, typed end to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HelloError {
    /// The sum does not fit in 32 bits.
    Overflow,
    /// Division by zero.
    DivideByZero,
}

/// The server's logic, independent of any PD runtime.
#[derive(Debug, Default)]
pub struct Counter {
    /// Requests answered.
    pub requests: u32,
    /// Notifications received.
    pub notifications: u32,
}

impl Counter {
    /// Answers one request.
    pub fn answer(&mut self, req: Request) -> Result<Response, HelloError> {
        let r = match req {
            Request::Add(a, b) => a
                .checked_add(b)
                .map(Response::Value)
                .ok_or(HelloError::Overflow),
            Request::Divide(a, b) => a
                .checked_div(b)
                .map(Response::Value)
                .ok_or(HelloError::DivideByZero),
            Request::Stats => Ok(Response::Stats {
                requests: self.requests,
                notifications: self.notifications,
            }),
        };
        self.requests += 1;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_answers_and_counts() {
        let mut c = Counter::default();
        assert_eq!(c.answer(Request::Add(2, 3)), Ok(Response::Value(5)));
        assert_eq!(
            c.answer(Request::Add(u32::MAX, 1)),
            Err(HelloError::Overflow)
        );
        assert_eq!(
            c.answer(Request::Divide(1, 0)),
            Err(HelloError::DivideByZero)
        );
        assert_eq!(
            c.answer(Request::Stats),
            Ok(Response::Stats {
                requests: 3,
                notifications: 0
            })
        );
    }
}
