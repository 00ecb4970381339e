//! QUIC transport parameters (RFC 9000 §7.4, §18) and the DATAGRAM
//! extension's max_datagram_frame_size (RFC 9221 §3).
//!
//! The encoding is a flat sequence of (id, length, value) tuples carried in
//! the TLS quic_transport_parameters extension (RFC 9000 §18).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use super::cid::{ConnectionId, MAX_CID_LEN};
use super::error::{TransportError, TransportErrorCode};
use super::stream_id::MAX_STREAM_COUNT;
use super::varint::{self, Reader};
use super::Side;

// Parameter identifiers, RFC 9000 §18.2 and RFC 9221 §3.
const ORIGINAL_DESTINATION_CONNECTION_ID: u64 = 0x00;
const MAX_IDLE_TIMEOUT: u64 = 0x01;
const STATELESS_RESET_TOKEN: u64 = 0x02;
const MAX_UDP_PAYLOAD_SIZE: u64 = 0x03;
const INITIAL_MAX_DATA: u64 = 0x04;
const INITIAL_MAX_STREAM_DATA_BIDI_LOCAL: u64 = 0x05;
const INITIAL_MAX_STREAM_DATA_BIDI_REMOTE: u64 = 0x06;
const INITIAL_MAX_STREAM_DATA_UNI: u64 = 0x07;
const INITIAL_MAX_STREAMS_BIDI: u64 = 0x08;
const INITIAL_MAX_STREAMS_UNI: u64 = 0x09;
const ACK_DELAY_EXPONENT: u64 = 0x0a;
const MAX_ACK_DELAY: u64 = 0x0b;
const DISABLE_ACTIVE_MIGRATION: u64 = 0x0c;
const PREFERRED_ADDRESS: u64 = 0x0d;
const ACTIVE_CONNECTION_ID_LIMIT: u64 = 0x0e;
const INITIAL_SOURCE_CONNECTION_ID: u64 = 0x0f;
const RETRY_SOURCE_CONNECTION_ID: u64 = 0x10;
const MAX_DATAGRAM_FRAME_SIZE: u64 = 0x20;
/// version_information (RFC 9368 §3).
const VERSION_INFORMATION: u64 = 0x11;

/// The reserved (greasing) parameter id we emit: 31 * N + 27 with N = 1
/// (RFC 9000 §18.1). N is fixed so the encoding is deterministic.
const GREASE_ID: u64 = 31 + 27;

// Defaults, RFC 9000 §18.2.
const DEFAULT_MAX_UDP_PAYLOAD_SIZE: u64 = 65527;
const DEFAULT_ACK_DELAY_EXPONENT: u64 = 3;
const DEFAULT_MAX_ACK_DELAY: u64 = 25;
const DEFAULT_ACTIVE_CONNECTION_ID_LIMIT: u64 = 2;

// Validity limits, RFC 9000 §18.2 and §4.6.
const MIN_MAX_UDP_PAYLOAD_SIZE: u64 = 1200;
const MAX_ACK_DELAY_EXPONENT: u64 = 20;
const MAX_ACK_DELAY_LIMIT: u64 = 1 << 14;

/// Length of a stateless reset token (RFC 9000 §10.3).
const RESET_TOKEN_LEN: usize = 16;

/// Size of the preferred_address value without its connection ID:
/// 4 + 2 (IPv4) + 16 + 2 (IPv6) + 1 (CID length) + 16 (reset token),
/// RFC 9000 §18.2 Figure 22.
const PREFERRED_ADDRESS_FIXED_LEN: usize = 4 + 2 + 16 + 2 + 1 + RESET_TOKEN_LEN;

/// The server's preferred address (RFC 9000 §9.6, §18.2): an alternative
/// address for the client to migrate to after the handshake, along with a
/// connection ID (sequence number 1) and its stateless reset token.
///
/// An address family the server does not offer is `None`; on the wire it is
/// sent as the all-zero address and port (0.0.0.0:0 or \[::]:0), and an
/// all-zero address and port decodes as `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferredAddress {
    /// The preferred IPv4 address and port, if offered.
    pub v4: Option<SocketAddrV4>,
    /// The preferred IPv6 address and port, if offered.
    pub v6: Option<SocketAddrV6>,
    /// The connection ID to use on the preferred address (never empty).
    pub cid: ConnectionId,
    /// The stateless reset token associated with `cid`.
    pub reset_token: [u8; 16],
}

impl PreferredAddress {
    /// Length of the encoded value.
    fn encoded_len(&self) -> usize {
        PREFERRED_ADDRESS_FIXED_LEN + self.cid.len()
    }

    /// Appends the value (without id and length), RFC 9000 §18.2 Figure 22.
    fn encode(&self, buf: &mut Vec<u8>) {
        let v4 = self
            .v4
            .unwrap_or_else(|| SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
        buf.extend_from_slice(&v4.ip().octets());
        buf.extend_from_slice(&v4.port().to_be_bytes());
        let v6 = self
            .v6
            .unwrap_or_else(|| SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0));
        buf.extend_from_slice(&v6.ip().octets());
        buf.extend_from_slice(&v6.port().to_be_bytes());
        buf.push(self.cid.len() as u8);
        buf.extend_from_slice(&self.cid);
        buf.extend_from_slice(&self.reset_token);
    }

    /// Parses a complete preferred_address value, RFC 9000 §18.2.
    fn decode(value: &[u8]) -> Result<Self, TransportError> {
        let truncated = || param_error("preferred_address truncated");
        let mut r = Reader::new(value);

        let ip4 = r.bytes(4).ok_or_else(truncated)?;
        let ip4 = Ipv4Addr::new(ip4[0], ip4[1], ip4[2], ip4[3]);
        let port4 = read_u16(&mut r).ok_or_else(truncated)?;
        // An all-zero address and port means "not offered" (RFC 9000 §18.2).
        let v4 = if ip4.is_unspecified() && port4 == 0 {
            None
        } else {
            Some(SocketAddrV4::new(ip4, port4))
        };

        let ip6 = r.bytes(16).ok_or_else(truncated)?;
        let mut octets = [0u8; 16];
        octets.copy_from_slice(ip6);
        let ip6 = Ipv6Addr::from(octets);
        let port6 = read_u16(&mut r).ok_or_else(truncated)?;
        let v6 = if ip6.is_unspecified() && port6 == 0 {
            None
        } else {
            Some(SocketAddrV6::new(ip6, port6, 0, 0))
        };

        let cid_len = usize::from(r.u8().ok_or_else(truncated)?);
        // A server MUST NOT include a zero-length connection ID here; the
        // client treats it as TRANSPORT_PARAMETER_ERROR (RFC 9000 §18.2).
        if cid_len == 0 {
            return Err(param_error(
                "preferred_address has a zero-length connection ID",
            ));
        }
        if cid_len > MAX_CID_LEN {
            return Err(param_error("preferred_address connection ID too long"));
        }
        let cid = r.bytes(cid_len).ok_or_else(truncated)?;
        let cid = ConnectionId::new(cid).ok_or_else(truncated)?;

        let token = r.bytes(RESET_TOKEN_LEN).ok_or_else(truncated)?;
        let mut reset_token = [0u8; RESET_TOKEN_LEN];
        reset_token.copy_from_slice(token);

        if !r.is_empty() {
            return Err(param_error("preferred_address has trailing bytes"));
        }
        Ok(Self {
            v4,
            v6,
            cid,
            reset_token,
        })
    }
}

/// All RFC 9000 §18.2 parameters plus max_datagram_frame_size (RFC 9221 §3).
/// Durations are in milliseconds as on the wire.
///
/// Integer values are sent as varints, so they must stay at or below
/// 2^62 - 1; larger values are clamped to that maximum when encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportParameters {
    /// The Destination Connection ID of the client's first Initial; sent
    /// only by a server (0x00).
    pub original_destination_connection_id: Option<ConnectionId>,
    /// Maximum idle timeout in milliseconds; 0 disables it (0x01).
    pub max_idle_timeout: u64,
    /// Stateless reset token for the handshake connection ID; sent only by
    /// a server (0x02).
    pub stateless_reset_token: Option<[u8; 16]>,
    /// Largest UDP payload the endpoint is willing to receive; at least
    /// 1200, default 65527 (0x03).
    pub max_udp_payload_size: u64,
    /// Initial connection-level flow control limit (0x04).
    pub initial_max_data: u64,
    /// Initial stream flow control limit for bidirectional streams opened by
    /// the sender of the parameters (0x05).
    pub initial_max_stream_data_bidi_local: u64,
    /// Initial stream flow control limit for bidirectional streams opened by
    /// the receiver of the parameters (0x06).
    pub initial_max_stream_data_bidi_remote: u64,
    /// Initial stream flow control limit for unidirectional streams opened
    /// by the receiver of the parameters (0x07).
    pub initial_max_stream_data_uni: u64,
    /// Initial number of bidirectional streams the peer may open; at most
    /// 2^60 (0x08).
    pub initial_max_streams_bidi: u64,
    /// Initial number of unidirectional streams the peer may open; at most
    /// 2^60 (0x09).
    pub initial_max_streams_uni: u64,
    /// Exponent for decoding the ACK Delay field; at most 20, default 3
    /// (0x0a).
    pub ack_delay_exponent: u64,
    /// Maximum acknowledgment delay in milliseconds; below 2^14, default 25
    /// (0x0b).
    pub max_ack_delay: u64,
    /// True when the endpoint does not support active migration (0x0c).
    pub disable_active_migration: bool,
    /// The server's preferred address; sent only by a server (0x0d).
    pub preferred_address: Option<PreferredAddress>,
    /// How many peer connection IDs the endpoint will store; at least 2,
    /// default 2 (0x0e).
    pub active_connection_id_limit: u64,
    /// The Source Connection ID of the sender's first Initial (0x0f).
    pub initial_source_connection_id: Option<ConnectionId>,
    /// The Source Connection ID of the server's Retry; sent only by a
    /// server (0x10).
    pub retry_source_connection_id: Option<ConnectionId>,
    /// Largest DATAGRAM frame the endpoint will receive; `None` when absent,
    /// which like 0 means DATAGRAM is unsupported (RFC 9221 §3, 0x20).
    pub max_datagram_frame_size: Option<u64>,
    /// The version the sender chose and the versions it supports
    /// (RFC 9368 §3, 0x11).
    pub version_information: Option<VersionInformation>,
}

/// The version_information transport parameter (RFC 9368 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInformation {
    /// The version in use on the connection.
    pub chosen: u32,
    /// The versions the sender supports, in its order of preference.
    pub available: Vec<u32>,
}

impl Default for TransportParameters {
    /// The values assumed when every parameter is absent (RFC 9000 §18.2).
    fn default() -> Self {
        Self {
            original_destination_connection_id: None,
            max_idle_timeout: 0,
            stateless_reset_token: None,
            max_udp_payload_size: DEFAULT_MAX_UDP_PAYLOAD_SIZE,
            initial_max_data: 0,
            initial_max_stream_data_bidi_local: 0,
            initial_max_stream_data_bidi_remote: 0,
            initial_max_stream_data_uni: 0,
            initial_max_streams_bidi: 0,
            initial_max_streams_uni: 0,
            ack_delay_exponent: DEFAULT_ACK_DELAY_EXPONENT,
            max_ack_delay: DEFAULT_MAX_ACK_DELAY,
            disable_active_migration: false,
            preferred_address: None,
            active_connection_id_limit: DEFAULT_ACTIVE_CONNECTION_ID_LIMIT,
            initial_source_connection_id: None,
            retry_source_connection_id: None,
            max_datagram_frame_size: None,
            version_information: None,
        }
    }
}

impl TransportParameters {
    /// Appends the encoding (id varint, length varint, value) of every
    /// parameter that differs from its default or is `Some`/`true`;
    /// parameters at their default value are not emitted (RFC 9000 §18,
    /// §18.2). One reserved greasing parameter (id 58 = 31 * 1 + 27, empty
    /// value, RFC 9000 §18.1) is appended as well, so the output is
    /// deterministic.
    ///
    /// This does not check which side may send which parameter; the caller
    /// fills in only what its side is allowed to send.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        if let Some(cid) = &self.original_destination_connection_id {
            put_bytes(buf, ORIGINAL_DESTINATION_CONNECTION_ID, cid);
        }
        put_int(buf, MAX_IDLE_TIMEOUT, self.max_idle_timeout, 0);
        if let Some(token) = &self.stateless_reset_token {
            put_bytes(buf, STATELESS_RESET_TOKEN, token);
        }
        put_int(
            buf,
            MAX_UDP_PAYLOAD_SIZE,
            self.max_udp_payload_size,
            DEFAULT_MAX_UDP_PAYLOAD_SIZE,
        );
        put_int(buf, INITIAL_MAX_DATA, self.initial_max_data, 0);
        put_int(
            buf,
            INITIAL_MAX_STREAM_DATA_BIDI_LOCAL,
            self.initial_max_stream_data_bidi_local,
            0,
        );
        put_int(
            buf,
            INITIAL_MAX_STREAM_DATA_BIDI_REMOTE,
            self.initial_max_stream_data_bidi_remote,
            0,
        );
        put_int(
            buf,
            INITIAL_MAX_STREAM_DATA_UNI,
            self.initial_max_stream_data_uni,
            0,
        );
        put_int(
            buf,
            INITIAL_MAX_STREAMS_BIDI,
            self.initial_max_streams_bidi,
            0,
        );
        put_int(
            buf,
            INITIAL_MAX_STREAMS_UNI,
            self.initial_max_streams_uni,
            0,
        );
        put_int(
            buf,
            ACK_DELAY_EXPONENT,
            self.ack_delay_exponent,
            DEFAULT_ACK_DELAY_EXPONENT,
        );
        put_int(
            buf,
            MAX_ACK_DELAY,
            self.max_ack_delay,
            DEFAULT_MAX_ACK_DELAY,
        );
        if self.disable_active_migration {
            // A zero-length value (RFC 9000 §18.2).
            put_bytes(buf, DISABLE_ACTIVE_MIGRATION, &[]);
        }
        if let Some(pa) = &self.preferred_address {
            varint::write(buf, PREFERRED_ADDRESS);
            varint::write(buf, pa.encoded_len() as u64);
            pa.encode(buf);
        }
        put_int(
            buf,
            ACTIVE_CONNECTION_ID_LIMIT,
            self.active_connection_id_limit,
            DEFAULT_ACTIVE_CONNECTION_ID_LIMIT,
        );
        if let Some(cid) = &self.initial_source_connection_id {
            put_bytes(buf, INITIAL_SOURCE_CONNECTION_ID, cid);
        }
        if let Some(cid) = &self.retry_source_connection_id {
            put_bytes(buf, RETRY_SOURCE_CONNECTION_ID, cid);
        }
        if let Some(size) = self.max_datagram_frame_size {
            // RFC 9221 §3: presence matters, so emit even a value of 0.
            put_varint_param(buf, MAX_DATAGRAM_FRAME_SIZE, size);
        }
        if let Some(vi) = &self.version_information {
            let mut v = Vec::with_capacity(4 + 4 * vi.available.len());
            v.extend_from_slice(&vi.chosen.to_be_bytes());
            for a in &vi.available {
                v.extend_from_slice(&a.to_be_bytes());
            }
            put_bytes(buf, VERSION_INFORMATION, &v);
        }
        // RFC 9000 §18.1: exercise the peer's handling of unknown ids.
        put_bytes(buf, GREASE_ID, &[]);
    }

    /// Decodes parameters sent by `sender`.
    ///
    /// Every failure is a [`TransportError`] with code
    /// TRANSPORT_PARAMETER_ERROR (RFC 9000 §7.4): truncated input, a
    /// parameter repeated, a value whose length does not match its content,
    /// an out-of-range value (RFC 9000 §18.2), or a server-only parameter
    /// sent by a client. Unknown parameter ids, including reserved ones
    /// (RFC 9000 §18.1), are skipped.
    pub fn decode(buf: &[u8], sender: Side) -> Result<Self, TransportError> {
        let mut params = Self::default();
        // RFC 9000 §7.4: duplicates SHOULD be a TRANSPORT_PARAMETER_ERROR.
        let mut seen: u32 = 0;
        let mut r = Reader::new(buf);

        while !r.is_empty() {
            let id = r
                .varint()
                .ok_or_else(|| param_error("truncated transport parameter id"))?;
            let len = r
                .varint()
                .ok_or_else(|| param_error("truncated transport parameter length"))?;
            // Compare as u64 first so a huge length cannot wrap on 32 bits.
            if len > r.remaining() as u64 {
                return Err(param_error("truncated transport parameter value"));
            }
            let value = r
                .bytes(len as usize)
                .ok_or_else(|| param_error("truncated transport parameter value"))?;

            // RFC 9000 §18.1, §18.2: unknown (and reserved) ids are ignored.
            let Some(bit) = known_bit(id) else {
                continue;
            };
            if seen & (1 << bit) != 0 {
                return Err(param_error(format!(
                    "duplicate transport parameter {id:#x}"
                )));
            }
            seen |= 1 << bit;

            // RFC 9000 §18.2: a server MUST treat receipt of a server-only
            // parameter from a client as TRANSPORT_PARAMETER_ERROR.
            if sender == Side::Client && is_server_only(id) {
                return Err(param_error(format!(
                    "client sent server-only transport parameter {id:#x}"
                )));
            }

            match id {
                ORIGINAL_DESTINATION_CONNECTION_ID => {
                    params.original_destination_connection_id = Some(cid_value(value)?);
                }
                MAX_IDLE_TIMEOUT => params.max_idle_timeout = int_value(value)?,
                STATELESS_RESET_TOKEN => {
                    // "This parameter is a sequence of 16 bytes."
                    let token: [u8; RESET_TOKEN_LEN] = value
                        .try_into()
                        .map_err(|_| param_error("stateless_reset_token must be 16 bytes"))?;
                    params.stateless_reset_token = Some(token);
                }
                MAX_UDP_PAYLOAD_SIZE => {
                    let v = int_value(value)?;
                    // "Values below 1200 are invalid."
                    if v < MIN_MAX_UDP_PAYLOAD_SIZE {
                        return Err(param_error("max_udp_payload_size below 1200"));
                    }
                    params.max_udp_payload_size = v;
                }
                INITIAL_MAX_DATA => params.initial_max_data = int_value(value)?,
                INITIAL_MAX_STREAM_DATA_BIDI_LOCAL => {
                    params.initial_max_stream_data_bidi_local = int_value(value)?;
                }
                INITIAL_MAX_STREAM_DATA_BIDI_REMOTE => {
                    params.initial_max_stream_data_bidi_remote = int_value(value)?;
                }
                INITIAL_MAX_STREAM_DATA_UNI => {
                    params.initial_max_stream_data_uni = int_value(value)?;
                }
                INITIAL_MAX_STREAMS_BIDI => {
                    params.initial_max_streams_bidi = streams_value(value)?;
                }
                INITIAL_MAX_STREAMS_UNI => {
                    params.initial_max_streams_uni = streams_value(value)?;
                }
                ACK_DELAY_EXPONENT => {
                    let v = int_value(value)?;
                    // "Values above 20 are invalid."
                    if v > MAX_ACK_DELAY_EXPONENT {
                        return Err(param_error("ack_delay_exponent above 20"));
                    }
                    params.ack_delay_exponent = v;
                }
                MAX_ACK_DELAY => {
                    let v = int_value(value)?;
                    // "Values of 2^14 or greater are invalid."
                    if v >= MAX_ACK_DELAY_LIMIT {
                        return Err(param_error("max_ack_delay of 2^14 or greater"));
                    }
                    params.max_ack_delay = v;
                }
                DISABLE_ACTIVE_MIGRATION => {
                    // "This parameter is a zero-length value."
                    if !value.is_empty() {
                        return Err(param_error("disable_active_migration must be empty"));
                    }
                    params.disable_active_migration = true;
                }
                PREFERRED_ADDRESS => {
                    params.preferred_address = Some(PreferredAddress::decode(value)?);
                }
                ACTIVE_CONNECTION_ID_LIMIT => {
                    let v = int_value(value)?;
                    // "MUST be at least 2."
                    if v < 2 {
                        return Err(param_error("active_connection_id_limit below 2"));
                    }
                    params.active_connection_id_limit = v;
                }
                INITIAL_SOURCE_CONNECTION_ID => {
                    params.initial_source_connection_id = Some(cid_value(value)?);
                }
                RETRY_SOURCE_CONNECTION_ID => {
                    params.retry_source_connection_id = Some(cid_value(value)?);
                }
                MAX_DATAGRAM_FRAME_SIZE => {
                    // RFC 9221 §3: a varint.
                    params.max_datagram_frame_size = Some(int_value(value)?);
                }
                VERSION_INFORMATION => {
                    // RFC 9368 §3: a chosen version, then any number of
                    // available ones, 4 bytes each; a zero chosen version
                    // or a ragged length is malformed.
                    if value.len() < 4 || value.len() % 4 != 0 {
                        return Err(param_error("version_information length"));
                    }
                    let mut words = value
                        .chunks_exact(4)
                        .map(|c| u32::from_be_bytes(c.try_into().expect("4 bytes")));
                    let chosen = words.next().expect("length checked");
                    if chosen == 0 {
                        return Err(param_error("version_information chose version 0"));
                    }
                    params.version_information = Some(VersionInformation {
                        chosen,
                        available: words.collect(),
                    });
                }
                _ => unreachable!("known_bit covers exactly the ids matched here"),
            }
        }
        Ok(params)
    }
}

/// A TRANSPORT_PARAMETER_ERROR (RFC 9000 §7.4, §20.1).
fn param_error(reason: impl Into<String>) -> TransportError {
    TransportError::new(TransportErrorCode::TRANSPORT_PARAMETER_ERROR, reason)
}

/// The bit tracking `id` in the duplicate-detection set, or `None` for an
/// id this implementation does not know. Ids 0x00..=0x10 map to bits 0..=16,
/// max_datagram_frame_size (0x20) to bit 17 and version_information (0x11)
/// to bit 18.
fn known_bit(id: u64) -> Option<u32> {
    match id {
        ORIGINAL_DESTINATION_CONNECTION_ID..=RETRY_SOURCE_CONNECTION_ID => Some(id as u32),
        MAX_DATAGRAM_FRAME_SIZE => Some(RETRY_SOURCE_CONNECTION_ID as u32 + 1),
        VERSION_INFORMATION => Some(RETRY_SOURCE_CONNECTION_ID as u32 + 2),
        _ => None,
    }
}

/// Parameters only a server may send (RFC 9000 §18.2).
fn is_server_only(id: u64) -> bool {
    matches!(
        id,
        ORIGINAL_DESTINATION_CONNECTION_ID
            | STATELESS_RESET_TOKEN
            | PREFERRED_ADDRESS
            | RETRY_SOURCE_CONNECTION_ID
    )
}

/// Parses an integer parameter: a single varint that fills the whole value
/// (RFC 9000 §18.2).
fn int_value(value: &[u8]) -> Result<u64, TransportError> {
    let mut r = Reader::new(value);
    let v = r
        .varint()
        .ok_or_else(|| param_error("integer transport parameter truncated"))?;
    if !r.is_empty() {
        return Err(param_error(
            "integer transport parameter length does not match its value",
        ));
    }
    Ok(v)
}

/// Parses initial_max_streams_bidi/uni, which cannot exceed 2^60
/// (RFC 9000 §4.6, §18.2).
fn streams_value(value: &[u8]) -> Result<u64, TransportError> {
    let v = int_value(value)?;
    if v > MAX_STREAM_COUNT {
        return Err(param_error("initial_max_streams above 2^60"));
    }
    Ok(v)
}

/// Parses a connection ID parameter of at most 20 bytes (RFC 9000 §17.2).
fn cid_value(value: &[u8]) -> Result<ConnectionId, TransportError> {
    ConnectionId::new(value).ok_or_else(|| param_error("connection ID longer than 20 bytes"))
}

/// Reads a big-endian u16.
fn read_u16(r: &mut Reader<'_>) -> Option<u16> {
    let b = r.bytes(2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Appends an opaque parameter: id, length, bytes (RFC 9000 §18).
fn put_bytes(buf: &mut Vec<u8>, id: u64, value: &[u8]) {
    varint::write(buf, id);
    varint::write(buf, value.len() as u64);
    buf.extend_from_slice(value);
}

/// Appends an integer parameter, clamping to the varint maximum.
fn put_varint_param(buf: &mut Vec<u8>, id: u64, v: u64) {
    let v = v.min(varint::MAX);
    varint::write(buf, id);
    varint::write(buf, varint::size(v) as u64);
    varint::write(buf, v);
}

/// Appends an integer parameter unless it equals its default.
fn put_int(buf: &mut Vec<u8>, id: u64, v: u64, default: u64) {
    if v != default {
        put_varint_param(buf, id, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(bytes: &[u8]) -> ConnectionId {
        ConnectionId::new(bytes).unwrap()
    }

    fn encode(p: &TransportParameters) -> Vec<u8> {
        let mut buf = Vec::new();
        p.encode(&mut buf);
        buf
    }

    /// One raw parameter: id, length, value.
    fn raw(id: u64, value: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        put_bytes(&mut buf, id, value);
        buf
    }

    /// One raw integer parameter in its shortest encoding.
    fn raw_int(id: u64, v: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        put_varint_param(&mut buf, id, v);
        buf
    }

    fn assert_param_error(buf: &[u8], sender: Side) {
        match TransportParameters::decode(buf, sender) {
            Err(e) => assert_eq!(
                e.code,
                TransportErrorCode::TRANSPORT_PARAMETER_ERROR,
                "{buf:02x?}: {e}"
            ),
            Ok(p) => panic!("{buf:02x?} from {sender:?} decoded to {p:?}"),
        }
    }

    fn full_server_params() -> TransportParameters {
        TransportParameters {
            original_destination_connection_id: Some(cid(&[1, 2, 3, 4, 5, 6, 7, 8])),
            max_idle_timeout: 30_000,
            stateless_reset_token: Some([0xaa; 16]),
            max_udp_payload_size: 1452,
            initial_max_data: 10_000_000,
            initial_max_stream_data_bidi_local: 1_000_000,
            initial_max_stream_data_bidi_remote: 2_000_000,
            initial_max_stream_data_uni: 3_000_000,
            initial_max_streams_bidi: 100,
            initial_max_streams_uni: 1 << 60,
            ack_delay_exponent: 20,
            max_ack_delay: (1 << 14) - 1,
            disable_active_migration: true,
            preferred_address: Some(PreferredAddress {
                v4: Some(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 4433)),
                v6: Some(SocketAddrV6::new(
                    "2001:db8::1".parse().unwrap(),
                    4434,
                    0,
                    0,
                )),
                cid: cid(&[9; 20]),
                reset_token: [0x55; 16],
            }),
            active_connection_id_limit: 8,
            initial_source_connection_id: Some(cid(&[0xde, 0xad])),
            retry_source_connection_id: Some(cid(&[0xbe, 0xef, 0x01])),
            max_datagram_frame_size: Some(65535),
            version_information: Some(VersionInformation {
                chosen: 0x6b33_43cf,
                available: vec![0x6b33_43cf, 1],
            }),
        }
    }

    #[test]
    fn malformed_version_information_is_rejected() {
        for value in [&[][..], &[0, 0, 0, 1, 2][..], &[0, 0, 0, 0][..]] {
            let mut buf = Vec::new();
            varint::write(&mut buf, VERSION_INFORMATION);
            varint::write(&mut buf, value.len() as u64);
            buf.extend_from_slice(value);
            assert!(
                TransportParameters::decode(&buf, Side::Client).is_err(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn full_set_round_trips_from_server() {
        let p = full_server_params();
        let buf = encode(&p);
        assert_eq!(
            TransportParameters::decode(&buf, Side::Server),
            Ok(p.clone())
        );
        // Encoding is deterministic.
        assert_eq!(buf, encode(&p));
    }

    #[test]
    fn full_set_from_client_is_rejected() {
        // The full set contains server-only parameters (RFC 9000 §18.2).
        assert_param_error(&encode(&full_server_params()), Side::Client);
    }

    #[test]
    fn client_params_round_trip() {
        let p = TransportParameters {
            max_idle_timeout: 10_000,
            initial_max_data: 1 << 20,
            initial_max_streams_bidi: 16,
            initial_source_connection_id: Some(cid(&[])),
            max_datagram_frame_size: Some(0),
            ..TransportParameters::default()
        };
        let buf = encode(&p);
        assert_eq!(TransportParameters::decode(&buf, Side::Client), Ok(p));
    }

    #[test]
    fn defaults_round_trip_and_emit_only_grease() {
        let p = TransportParameters::default();
        assert_eq!(p.max_udp_payload_size, 65527);
        assert_eq!(p.ack_delay_exponent, 3);
        assert_eq!(p.max_ack_delay, 25);
        assert_eq!(p.active_connection_id_limit, 2);
        let buf = encode(&p);
        // Only the reserved parameter 58 (31 * 1 + 27) with an empty value.
        assert_eq!(buf, [0x3a, 0x00]);
        for side in [Side::Client, Side::Server] {
            assert_eq!(TransportParameters::decode(&buf, side), Ok(p.clone()));
        }
        assert_eq!(TransportParameters::decode(&[], Side::Server), Ok(p));
    }

    #[test]
    fn explicit_default_values_decode() {
        let mut buf = raw_int(MAX_UDP_PAYLOAD_SIZE, 65527);
        buf.extend(raw_int(ACK_DELAY_EXPONENT, 3));
        buf.extend(raw_int(MAX_ACK_DELAY, 25));
        buf.extend(raw_int(ACTIVE_CONNECTION_ID_LIMIT, 2));
        assert_eq!(
            TransportParameters::decode(&buf, Side::Client),
            Ok(TransportParameters::default())
        );
    }

    #[test]
    fn preferred_address_single_family() {
        let mut p = TransportParameters {
            preferred_address: Some(PreferredAddress {
                v4: Some(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 443)),
                v6: None,
                cid: cid(&[7]),
                reset_token: [1; 16],
            }),
            ..TransportParameters::default()
        };
        let buf = encode(&p);
        assert_eq!(
            TransportParameters::decode(&buf, Side::Server),
            Ok(p.clone())
        );

        let pa = p.preferred_address.as_mut().unwrap();
        pa.v4 = None;
        pa.v6 = Some(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 443, 0, 0));
        let buf = encode(&p);
        assert_eq!(TransportParameters::decode(&buf, Side::Server), Ok(p));
    }

    #[test]
    fn unknown_ids_are_ignored() {
        let mut buf = raw(0x1234, &[1, 2, 3]);
        buf.extend(raw_int(INITIAL_MAX_DATA, 5000));
        // Unknown ids need no duplicate tracking.
        buf.extend(raw(0x1234, &[4, 5, 6]));
        // Reserved greasing ids with arbitrary content (RFC 9000 §18.1).
        buf.extend(raw(27, &[0xff; 7]));
        buf.extend(raw(31 * 1000 + 27, &[]));
        // A large id in an 8-byte varint.
        buf.extend(raw(varint::MAX, &[0; 2]));
        buf.extend(raw_int(MAX_IDLE_TIMEOUT, 7));
        let p = TransportParameters::decode(&buf, Side::Client).unwrap();
        assert_eq!(
            p,
            TransportParameters {
                initial_max_data: 5000,
                max_idle_timeout: 7,
                ..TransportParameters::default()
            }
        );
    }

    #[test]
    fn duplicates_are_rejected() {
        for (a, b) in [
            (raw_int(MAX_IDLE_TIMEOUT, 1), raw_int(MAX_IDLE_TIMEOUT, 2)),
            (raw_int(MAX_IDLE_TIMEOUT, 1), raw_int(MAX_IDLE_TIMEOUT, 1)),
            (
                raw(DISABLE_ACTIVE_MIGRATION, &[]),
                raw(DISABLE_ACTIVE_MIGRATION, &[]),
            ),
            (
                raw(INITIAL_SOURCE_CONNECTION_ID, &[1]),
                raw(INITIAL_SOURCE_CONNECTION_ID, &[1]),
            ),
            (
                raw_int(MAX_DATAGRAM_FRAME_SIZE, 1200),
                raw_int(MAX_DATAGRAM_FRAME_SIZE, 1200),
            ),
            (
                raw(ORIGINAL_DESTINATION_CONNECTION_ID, &[1]),
                raw(ORIGINAL_DESTINATION_CONNECTION_ID, &[2]),
            ),
        ] {
            let mut buf = a.clone();
            buf.extend(raw(0x1234, &[0; 3]));
            buf.extend(b);
            assert_param_error(&buf, Side::Server);
            // Each one on its own is fine.
            assert!(TransportParameters::decode(&a, Side::Server).is_ok());
        }
        // Distinct ids that share nothing are not duplicates.
        let mut buf = raw_int(MAX_DATAGRAM_FRAME_SIZE, 1);
        buf.extend(raw(RETRY_SOURCE_CONNECTION_ID, &[1]));
        buf.extend(raw(ORIGINAL_DESTINATION_CONNECTION_ID, &[1]));
        assert!(TransportParameters::decode(&buf, Side::Server).is_ok());
    }

    #[test]
    fn length_mismatch_is_rejected() {
        let int_ids = [
            MAX_IDLE_TIMEOUT,
            MAX_UDP_PAYLOAD_SIZE,
            INITIAL_MAX_DATA,
            INITIAL_MAX_STREAM_DATA_BIDI_LOCAL,
            INITIAL_MAX_STREAM_DATA_BIDI_REMOTE,
            INITIAL_MAX_STREAM_DATA_UNI,
            INITIAL_MAX_STREAMS_BIDI,
            INITIAL_MAX_STREAMS_UNI,
            ACK_DELAY_EXPONENT,
            MAX_ACK_DELAY,
            ACTIVE_CONNECTION_ID_LIMIT,
            MAX_DATAGRAM_FRAME_SIZE,
        ];
        for id in int_ids {
            // Trailing byte after a complete varint.
            assert_param_error(&raw(id, &[0x45, 0xdc, 0x00]), Side::Client);
            // Varint whose encoded length exceeds the parameter length.
            assert_param_error(&raw(id, &[0x80, 0x00]), Side::Client);
            // Empty value.
            assert_param_error(&raw(id, &[]), Side::Client);
        }
        // A non-shortest varint that exactly fills the length is fine.
        let p = TransportParameters::decode(&raw(INITIAL_MAX_DATA, &[0x40, 0x05]), Side::Client);
        assert_eq!(p.unwrap().initial_max_data, 5);

        assert_param_error(&raw(DISABLE_ACTIVE_MIGRATION, &[0]), Side::Client);
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        let ok = |buf: Vec<u8>| {
            TransportParameters::decode(&buf, Side::Client).unwrap();
        };

        assert_param_error(&raw_int(MAX_UDP_PAYLOAD_SIZE, 1199), Side::Client);
        assert_param_error(&raw_int(MAX_UDP_PAYLOAD_SIZE, 0), Side::Client);
        ok(raw_int(MAX_UDP_PAYLOAD_SIZE, 1200));

        assert_param_error(&raw_int(ACK_DELAY_EXPONENT, 21), Side::Client);
        ok(raw_int(ACK_DELAY_EXPONENT, 20));

        assert_param_error(&raw_int(MAX_ACK_DELAY, 1 << 14), Side::Client);
        assert_param_error(&raw_int(MAX_ACK_DELAY, varint::MAX), Side::Client);
        ok(raw_int(MAX_ACK_DELAY, (1 << 14) - 1));

        assert_param_error(&raw_int(ACTIVE_CONNECTION_ID_LIMIT, 1), Side::Client);
        assert_param_error(&raw_int(ACTIVE_CONNECTION_ID_LIMIT, 0), Side::Client);
        ok(raw_int(ACTIVE_CONNECTION_ID_LIMIT, 2));

        for id in [INITIAL_MAX_STREAMS_BIDI, INITIAL_MAX_STREAMS_UNI] {
            assert_param_error(&raw_int(id, (1 << 60) + 1), Side::Client);
            assert_param_error(&raw_int(id, varint::MAX), Side::Client);
            ok(raw_int(id, 1 << 60));
        }
    }

    #[test]
    fn reset_token_must_be_16_bytes() {
        for len in [0, 1, 15, 17, 32] {
            assert_param_error(&raw(STATELESS_RESET_TOKEN, &vec![0; len]), Side::Server);
        }
        let p = TransportParameters::decode(&raw(STATELESS_RESET_TOKEN, &[3; 16]), Side::Server);
        assert_eq!(p.unwrap().stateless_reset_token, Some([3; 16]));
    }

    #[test]
    fn long_connection_ids_are_rejected() {
        for id in [
            ORIGINAL_DESTINATION_CONNECTION_ID,
            INITIAL_SOURCE_CONNECTION_ID,
            RETRY_SOURCE_CONNECTION_ID,
        ] {
            assert_param_error(&raw(id, &[1; 21]), Side::Server);
            assert!(TransportParameters::decode(&raw(id, &[1; 20]), Side::Server).is_ok());
            assert!(TransportParameters::decode(&raw(id, &[]), Side::Server).is_ok());
        }
        // Also inside preferred_address.
        let mut value = vec![0u8; 24];
        value.push(21);
        value.extend([1; 21]);
        value.extend([0; 16]);
        assert_param_error(&raw(PREFERRED_ADDRESS, &value), Side::Server);
    }

    #[test]
    fn client_must_not_send_server_only_parameters() {
        let mut pa = Vec::new();
        full_server_params()
            .preferred_address
            .unwrap()
            .encode(&mut pa);
        for buf in [
            raw(ORIGINAL_DESTINATION_CONNECTION_ID, &[1, 2, 3, 4]),
            raw(PREFERRED_ADDRESS, &pa),
            raw(RETRY_SOURCE_CONNECTION_ID, &[5, 6]),
            raw(STATELESS_RESET_TOKEN, &[0; 16]),
        ] {
            assert_param_error(&buf, Side::Client);
            assert!(TransportParameters::decode(&buf, Side::Server).is_ok());
        }
    }

    #[test]
    fn preferred_address_errors() {
        let good = {
            let mut v = Vec::new();
            full_server_params()
                .preferred_address
                .unwrap()
                .encode(&mut v);
            v
        };
        assert!(TransportParameters::decode(&raw(PREFERRED_ADDRESS, &good), Side::Server).is_ok());

        // Zero-length connection ID (RFC 9000 §18.2).
        let mut zero = vec![0u8; 24];
        zero.push(0);
        zero.extend([0; 16]);
        assert_param_error(&raw(PREFERRED_ADDRESS, &zero), Side::Server);

        // Every truncation, and a trailing byte.
        for n in 0..good.len() {
            assert_param_error(&raw(PREFERRED_ADDRESS, &good[..n]), Side::Server);
        }
        let mut long = good.clone();
        long.push(0);
        assert_param_error(&raw(PREFERRED_ADDRESS, &long), Side::Server);
    }

    #[test]
    fn truncated_input_is_rejected() {
        for buf in [
            &[0x40][..],                                             // id varint cut short
            &[0x01],                                                 // id without length
            &[0x01, 0x40],                                           // length varint cut short
            &[0x01, 0x04, 0x00],                                     // value shorter than length
            &[0x01, 0x01, 0x05, 0x04],                               // second parameter cut short
            &[0x01, 0xc0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // huge length
        ] {
            assert_param_error(buf, Side::Client);
        }
        // Every strict prefix of a full encoding either decodes (when it ends
        // on a parameter boundary) or fails with TRANSPORT_PARAMETER_ERROR.
        let buf = encode(&full_server_params());
        for n in 0..buf.len() {
            if let Err(e) = TransportParameters::decode(&buf[..n], Side::Server) {
                assert_eq!(e.code, TransportErrorCode::TRANSPORT_PARAMETER_ERROR);
            }
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        // xorshift64; fixed seed so the test is deterministic.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let valid = encode(&full_server_params());
        let mut buf = Vec::new();
        for i in 0..20_000 {
            buf.clear();
            if i % 2 == 0 {
                // Pure noise, biased towards small ids and lengths so that
                // known parameters show up often.
                let len = (next() % 96) as usize;
                for _ in 0..len {
                    let x = next();
                    buf.push(if x & 0x300 == 0 {
                        x as u8 & 0x3f
                    } else {
                        x as u8
                    });
                }
            } else {
                // A valid encoding with a few bytes flipped and maybe cut.
                buf.extend_from_slice(&valid);
                for _ in 0..1 + next() % 4 {
                    let at = (next() % buf.len() as u64) as usize;
                    buf[at] = next() as u8;
                }
                let cut = (next() % (buf.len() as u64 + 1)) as usize;
                buf.truncate(cut);
            }
            let side = if next() & 1 == 0 {
                Side::Client
            } else {
                Side::Server
            };
            match TransportParameters::decode(&buf, side) {
                Ok(p) => {
                    // Whatever decodes re-encodes to something equivalent.
                    let again = encode(&p);
                    assert_eq!(TransportParameters::decode(&again, side), Ok(p));
                }
                Err(e) => assert_eq!(e.code, TransportErrorCode::TRANSPORT_PARAMETER_ERROR),
            }
        }
    }
}
