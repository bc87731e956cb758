//! Arbitrary bytes → `frame::parse`, `Registry::validate`, `Connection::receive` (1.6, 2.0.1,
//! 2.1), `reply`/`reply_error` on every incoming call. `exercise` panics when an invariant
//! breaks (see `rust/fuzzing.rs`): every Transmit is a JSON array of type 3/4/5 with the
//! incoming id or "-1", error descriptions ≤ 255 characters, details an object, ...
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    _core::fuzzing::exercise(data);
});
