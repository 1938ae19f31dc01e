//! End-to-end tests of whole systems (two nodes on the host backend, C
//! programs linking secsock, Linux interop); the tests live in `tests/tests/`
//! and this library holds what they share.
#![deny(unsafe_code)]
