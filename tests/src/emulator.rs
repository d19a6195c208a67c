//! The emulator harness: moto_server on a free loopback port.
