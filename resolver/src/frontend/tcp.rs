//! The TCP listener per RFC 7766: 2-byte length framing (RFC 1035 §4.2.2),
//! pipelined queries answered as they finish (§6.2.1.1), an idle timeout
//! (§6.2.3), a cap on concurrent connections (§6.2.2) and on query size.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};

use super::engine::{Engine, Reply};
use super::{DropReason, Handler, Observer};

type Outgoing = (Vec<u8>, OwnedSemaphorePermit);

/// Accepts connections on `listener` until the task is aborted (which also
/// ends every connection it accepted).
pub(crate) async fn serve<H: Handler, O: Observer>(engine: Arc<Engine<H, O>>, listener: TcpListener) {
    let slots = Arc::new(Semaphore::new(engine.cfg.max_tcp));
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "DNS TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            engine.observer.dropped(DropReason::TcpConnections);
            continue;
        };
        connections.spawn(connection(Arc::clone(&engine), stream, peer, slot));
    }
}

/// One client connection: a reader that dispatches queries and a writer
/// that sends responses in the order they finish.
async fn connection<H: Handler, O: Observer>(
    engine: Arc<Engine<H, O>>,
    stream: TcpStream,
    peer: SocketAddr,
    _slot: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let pipeline = engine.cfg.tcp_pipeline.max(1);
    // Room for every query in flight, so answering never waits on the client.
    let (tx, rx) = mpsc::channel::<Outgoing>(pipeline);
    let idle = engine.cfg.tcp_idle;
    let drain = engine.cfg.resolve_timeout + idle;
    let write = write_loop(wr, rx, idle);
    tokio::pin!(write);
    tokio::select! {
        () = read_loop(&engine, rd, peer, tx, pipeline) => {
            // Finish the answers still in flight, then close.
            let _ = timeout(drain, write).await;
        }
        () = &mut write => {}
    }
}

/// Reads length-prefixed queries and dispatches them, at most `pipeline`
/// at once. Returns on end of stream, an error, an oversized query, or
/// after `tcp_idle` without a complete query and with nothing in flight.
async fn read_loop<H: Handler, O: Observer>(
    engine: &Arc<Engine<H, O>>,
    mut rd: OwnedReadHalf,
    peer: SocketAddr,
    tx: mpsc::Sender<Outgoing>,
    pipeline: usize,
) {
    let slots = Arc::new(Semaphore::new(pipeline));
    let max = engine.cfg.max_tcp_query;
    let idle = engine.cfg.tcp_idle;
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut deadline = Instant::now() + idle;
    loop {
        while let [hi, lo, rest @ ..] = buf.as_slice() {
            let len = usize::from(u16::from_be_bytes([*hi, *lo]));
            if len > max {
                return engine.observer.dropped(DropReason::Oversized);
            }
            if rest.len() < len {
                break;
            }
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else { return };
            let packet: Vec<u8> = buf.drain(..2 + len).skip(2).collect();
            engine.query(&packet, peer, Reply::Tcp { tx: tx.clone(), permit }).await;
            deadline = Instant::now() + idle;
        }
        buf.reserve(4096);
        match timeout_at(deadline, rd.read_buf(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => {}
            // Idle only counts with nothing in flight (RFC 7766 §6.2.3).
            Err(_) if slots.available_permits() == pipeline => return,
            Err(_) => deadline = Instant::now() + idle,
        }
    }
}

/// Writes responses as they come, each with its length prefix; gives up
/// when the client does not take one within `idle`.
async fn write_loop(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Outgoing>, idle: Duration) {
    while let Some((bytes, _permit)) = rx.recv().await {
        let Ok(len) = u16::try_from(bytes.len()) else { continue };
        let mut frame = Vec::with_capacity(bytes.len() + 2);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&bytes);
        match timeout(idle, wr.write_all(&frame)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
    let _ = wr.shutdown().await;
}
