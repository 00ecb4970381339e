//! qlog (feature `qlog`): a transfer with loss writes, for each side, a
//! JSON-SEQ trace every record of which parses, with the fields the qlog
//! main schema and QUIC event definitions require, and whose packet
//! counts match the connection's statistics.

use crate::util::*;
use actix_quic::protocol::{ConnectionId, QlogFactory, Side, TransportConfig, VarInt};
use actix_quic::testing::Link;
use bytes::Bytes;
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A writer into a shared buffer.
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Keeps each side's trace in memory.
#[derive(Default)]
struct Traces(Mutex<HashMap<bool, Arc<Mutex<Vec<u8>>>>>);

impl QlogFactory for Traces {
    fn writer(&self, side: Side, _odcid: &ConnectionId) -> Option<Box<dyn Write + Send + Sync>> {
        let buf = Arc::new(Mutex::new(Vec::new()));
        self.0.lock().unwrap().insert(side.is_client(), buf.clone());
        Some(Box::new(Shared(buf)))
    }
}

/// The records of a JSON-SEQ trace (RFC 7464: each starts with RS).
fn records(trace: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(trace).expect("UTF-8");
    text.split('\u{1e}')
        .filter(|r| !r.trim().is_empty())
        .map(|r| serde_json::from_str(r.trim()).unwrap_or_else(|e| panic!("{e}: {r}")))
        .collect()
}

fn count(events: &[Value], name: &str) -> u64 {
    events.iter().filter(|e| e["name"] == name).count() as u64
}

#[test]
fn a_lossy_transfer_writes_a_valid_trace_matching_the_stats() {
    let traces = Arc::new(Traces::default());
    let mut config = TransportConfig::default();
    config.qlog(Some(traces.clone()));
    let link = Link {
        loss: 0.03,
        seed: 5,
        ..Link::default()
    };
    let mut p = pair_with(config.clone(), config, link);
    assert!(p.handshake_and_settle());
    let data = pattern(9, 0, 300_000);
    assert_eq!(transfer(&mut p, &data, Duration::from_secs(30)), data);
    p.client
        .send_datagram(Bytes::from_static(b"dgram"))
        .unwrap();
    p.advance(Duration::from_millis(100));
    // The trace ends with the close: compare with the figures before it.
    let stats = p.client.stats();
    let now = p.now;
    p.client
        .close(now, VarInt::from_u32(0), Bytes::from_static(b"bye"));
    p.advance(Duration::from_secs(2));
    assert!(stats.lost_packets > 0, "the link lost nothing");

    let traces = traces.0.lock().unwrap();
    for (client, buf) in traces.iter() {
        let records = records(&buf.lock().unwrap());
        // The header record (qlog main schema §4, JSON-SEQ §11).
        let header = &records[0];
        assert_eq!(header["qlog_format"], "JSON-SEQ");
        assert!(header["qlog_version"].is_string());
        let vantage = &header["trace"]["vantage_point"]["type"];
        assert_eq!(vantage, if *client { "client" } else { "server" });
        let events = &records[1..];
        let mut last = 0.0;
        for e in events {
            let time = e["time"].as_f64().unwrap_or_else(|| panic!("no time: {e}"));
            assert!(time >= last, "time went back: {e}");
            last = time;
            assert!(e["name"].as_str().is_some_and(|n| n.contains(':')), "{e}");
            assert!(e["data"].is_object(), "{e}");
            if e["name"] == "transport:packet_sent" || e["name"] == "transport:packet_received" {
                assert!(e["data"]["header"]["packet_type"].is_string(), "{e}");
                assert!(e["data"]["header"]["packet_number"].is_u64(), "{e}");
                assert!(e["data"]["frames"].is_array(), "{e}");
            }
        }
        for name in [
            "connectivity:connection_started",
            "connectivity:connection_closed",
            "recovery:metrics_updated",
            "recovery:congestion_state_updated",
            "transport:packets_acked",
        ] {
            assert!(count(events, name) > 0, "no {name}");
        }
        assert_eq!(
            count(events, "transport:parameters_set"),
            2,
            "ours and the peer's"
        );
        if *client {
            assert_eq!(count(events, "transport:packet_sent"), stats.packets_sent);
            assert_eq!(
                count(events, "transport:packet_received"),
                stats.packets_received
            );
            assert_eq!(
                count(events, "recovery:packet_lost"),
                stats.lost_packets + stats.lost_mtu_probes
            );
            // Frames inside: the datagram, and STREAM frames of the transfer.
            let frame_types: Vec<&str> = events
                .iter()
                .filter(|e| e["name"] == "transport:packet_sent")
                .flat_map(|e| e["data"]["frames"].as_array().unwrap())
                .filter_map(|f| f["frame_type"].as_str())
                .collect();
            assert!(frame_types.contains(&"datagram"));
            assert!(frame_types.contains(&"stream"));
        }
    }
    assert_eq!(traces.len(), 2, "a trace per side");
}
