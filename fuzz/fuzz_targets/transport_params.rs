//! Transport parameter decoding (RFC 9000 §7.4, §18) from either side on
//! arbitrary bytes: no panic, and whatever decodes re-encodes to bytes
//! that decode to the same parameters.
#![no_main]

use actix_quic::protocol::transport_params::TransportParameters;
use actix_quic::protocol::Side;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for sender in [Side::Client, Side::Server] {
        let Ok(params) = TransportParameters::decode(data, sender) else {
            continue;
        };
        let mut buf = Vec::new();
        params.encode(&mut buf);
        let again = TransportParameters::decode(&buf, sender)
            .unwrap_or_else(|e| panic!("re-encoded {params:?} fails to decode: {e:?}"));
        assert_eq!(again, params);
        // Encoding is deterministic.
        let mut buf2 = Vec::new();
        again.encode(&mut buf2);
        assert_eq!(buf, buf2);
    }
});
