//! The REST layer: request -> validated command -> JSON response, one file per endpoint
//! group, plus the itsdangerous-compatible signature check.
