//! Starting an endpoint's actors: one endpoint actor per worker, the
//! first on the caller's arbiter and each other on an arbiter (thread) of
//! its own, each with its own `SO_REUSEPORT` socket on the same address.
//! The kernel spreads clients over the sockets by address; the connection
//! IDs each worker issues name it, so that what reaches another worker
//! after a client moved is passed on (the draft-ietf-quic-load-balancers
//! "Server Process Demultiplexing", §8.2).

use super::endpoint::{EndpointActor, EndpointShared};
use super::socket::Socket;
use crate::protocol::{
    ConnectionIdGenerator, EndpointConfig, QuicLbCids, ServerConfig, SharedCounts, WorkerRole,
    MAX_WORKERS,
};
use actix::{Actor, Addr, Arbiter};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

/// An endpoint's running actors.
pub(crate) struct StartedEndpoint {
    /// Each worker's actor, the first one first.
    pub(crate) workers: Arc<Vec<Addr<EndpointActor>>>,
    /// The address every worker's socket is bound to.
    pub(crate) local: SocketAddr,
    /// What the actors share with the handles.
    pub(crate) shared: Arc<EndpointShared>,
    /// The faults injected into every worker's socket (test hook).
    #[cfg(feature = "test-hooks")]
    pub(crate) faults: Arc<super::SocketFaults>,
}

/// How many workers an endpoint with `config` runs.
fn worker_count(config: &EndpointConfig, server: bool) -> usize {
    if !server
        || !cfg!(all(
            unix,
            not(any(target_os = "solaris", target_os = "illumos"))
        ))
    {
        return 1;
    }
    let n = config.workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    n.clamp(1, MAX_WORKERS)
}

/// Each worker's configuration: IDs naming the worker, and the reset
/// key, the counts and the reading of IDs shared by all. `None` when the
/// configured generator cannot name workers.
fn worker_configs(config: &EndpointConfig, n: usize) -> Option<Vec<EndpointConfig>> {
    let demux: Arc<dyn ConnectionIdGenerator> = match &config.cid_generator {
        Some(g) => g.clone(),
        None => Arc::new(QuicLbCids::for_workers_only(rand::random())),
    };
    let mut shared = config.clone();
    if shared.reset_key.is_none() {
        use crate::protocol::backend::hmac;
        shared.reset_key = Some(hmac::Key::new(
            hmac::HMAC_SHA256,
            &rand::random::<[u8; 32]>(),
        ));
    }
    let counts = Arc::new(SharedCounts::new(n));
    (0..n)
        .map(|i| {
            let index = u8::try_from(i).expect("at most 256 workers");
            let mut c = shared.clone();
            c.cid_generator = Some(demux.for_worker(index)?);
            c.worker_role = Some(WorkerRole {
                index,
                demux: demux.clone(),
                counts: counts.clone(),
            });
            Some(c)
        })
        .collect()
}

/// Attempts at a port of our own for the workers of an endpoint bound
/// to port 0 (see [`bind_first`]).
const FREE_PORT_ATTEMPTS: usize = 16;

/// The first worker's socket on `addr`, with `SO_REUSEPORT` when
/// `shared` (the other workers' sockets then join it on its port).
///
/// Linux gives a socket with `SO_REUSEPORT` that binds port 0 a port that
/// other sockets of the same user with `SO_REUSEPORT` may already hold,
/// and the new socket joins their group: another endpoint's datagrams
/// would then be spread over both (one in 20 such binds did, in a test
/// of 3,000 sockets). So for port 0 a socket without the option finds a
/// port that no socket holds, and the workers bind that port; should
/// another socket take it in between, the next free port is tried.
fn bind_first(addr: SocketAddr, shared: bool) -> io::Result<std::net::UdpSocket> {
    if !shared || addr.port() != 0 {
        return Socket::bind_std(addr, shared);
    }
    let mut last = None;
    for _ in 0..FREE_PORT_ATTEMPTS {
        let port = Socket::bind_std(addr, false)?.local_addr()?.port();
        match Socket::bind_std(SocketAddr::new(addr.ip(), port), true) {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            bound => return bound,
        }
    }
    Err(last.unwrap_or_else(|| io::ErrorKind::AddrInUse.into()))
}

/// Binds and starts the actors of an endpoint on `addr` with `config`,
/// accepting connections when `server` is set. Must run inside an actix
/// system.
pub(crate) fn start_endpoint(
    config: EndpointConfig,
    server: Option<ServerConfig>,
    addr: SocketAddr,
) -> io::Result<StartedEndpoint> {
    let n = worker_count(&config, server.is_some());
    let configs = match (n > 1).then(|| worker_configs(&config, n)).flatten() {
        Some(c) => c,
        None => {
            if n > 1 {
                tracing::warn!("the connection ID generator cannot name workers: one worker");
            }
            vec![config]
        }
    };
    let n = configs.len();
    let first = bind_first(addr, n > 1)?;
    let local = first.local_addr()?;
    let mut sockets = vec![first];
    for _ in 1..n {
        sockets.push(Socket::bind_std(local, true)?);
    }
    let shared = Arc::new(EndpointShared::new(n));
    let all = Arc::new(OnceLock::new());
    let mut workers = Vec::with_capacity(n);
    // Faults injected into one worker's socket are injected into all.
    #[cfg(feature = "test-hooks")]
    let faults = Arc::<super::SocketFaults>::default();
    for (i, (config, std)) in configs.into_iter().zip(sockets).enumerate() {
        let (server, shared, all) = (server.clone(), shared.clone(), all.clone());
        #[cfg(feature = "test-hooks")]
        let faults = faults.clone();
        let bind = move || {
            Socket::from_std_with(
                std,
                #[cfg(feature = "test-hooks")]
                faults,
            )
        };
        if i == 0 {
            let socket = bind()?;
            workers.push(EndpointActor::new(socket, config, server, shared, 0, all).start());
            continue;
        }
        let arbiter = Arbiter::new();
        workers.push(EndpointActor::start_in_arbiter(
            &arbiter.handle(),
            move |_| {
                // The socket registers with this arbiter's reactor.
                let socket = bind().expect("a bound UDP socket registers");
                EndpointActor::new(socket, config, server, shared, i, all)
            },
        ));
    }
    let _ = all.set(workers.clone());
    Ok(StartedEndpoint {
        workers: Arc::new(workers),
        local,
        shared,
        #[cfg(feature = "test-hooks")]
        faults,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Workers' sockets bound to port 0 never share a port with another
    /// endpoint's: 600 groups of two, each on a port of its own. (Binding
    /// port 0 with `SO_REUSEPORT` directly put about one socket in 20 on
    /// a port another group held.)
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    #[test]
    fn endpoints_on_port_zero_get_ports_of_their_own() {
        let mut held = Vec::new();
        let mut ports = std::collections::HashSet::new();
        for _ in 0..600 {
            let first = bind_first("127.0.0.1:0".parse().unwrap(), true).unwrap();
            let port = first.local_addr().unwrap().port();
            assert!(ports.insert(port), "port {port} handed out twice");
            let second = Socket::bind_std(first.local_addr().unwrap(), true).unwrap();
            held.push((first, second));
        }
    }
}
