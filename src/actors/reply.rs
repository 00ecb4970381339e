//! Parking a reply: how both actors answer a message later, once the
//! operation it asked for can complete (an `accept` waiting for a
//! connection, a `read` waiting for data, a `write` waiting for credit).
//!
//! The handler returns an [`Answer`]; the [`Reply`] it keeps holds the
//! caller's own actix reply sender as soon as the handler has returned.
//! Holding it, rather than a channel of our own, lets the actor see when
//! the caller stopped waiting: a future dropped by `select!` or `timeout`
//! must not take a connection, consume data or send data that nobody
//! will receive.

use actix::dev::{MessageResponse, OneshotSender};
use actix::{Actor, Message};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// Where the answer to a parked operation goes.
pub(crate) struct Reply<T>(Rc<RefCell<Slot<T>>>);

enum Slot<T> {
    /// The handler has not returned yet.
    Pending,
    /// Answered before the handler returned.
    Ready(T),
    /// The caller's reply sender.
    Caller(OneshotSender<T>),
    /// The answer was handed over, or nobody waits (`do_send`).
    Detached,
}

impl<T> Reply<T> {
    /// True once the caller stopped waiting for the answer. An operation
    /// sent with `do_send` has no caller from the start, and is never
    /// canceled: it runs, and its answer is dropped.
    pub(crate) fn is_canceled(&self) -> bool {
        matches!(&*self.0.borrow(), Slot::Caller(tx) if tx.is_closed())
    }

    /// Answers the caller; gives `value` back if it stopped waiting.
    pub(crate) fn send(self, value: T) -> Result<(), T> {
        let mut slot = self.0.borrow_mut();
        match std::mem::replace(&mut *slot, Slot::Detached) {
            Slot::Caller(tx) => tx.send(value),
            Slot::Pending => {
                *slot = Slot::Ready(value);
                Ok(())
            }
            Slot::Ready(_) | Slot::Detached => Ok(()),
        }
    }
}

/// A parked operation's reply and the [`Answer`] its handler returns.
pub(crate) fn park<T>() -> (Reply<T>, Answer<T>) {
    let slot = Rc::new(RefCell::new(Slot::Pending));
    (Reply(slot.clone()), Answer(Some(Err(slot))))
}

/// The answer to a message: ready now, or once a parked operation
/// completes. Returned by the handlers of both actors; callers see only
/// the message's result type.
// `pub` because public `Handler` impls name it as their `Result`; it is
// not reachable otherwise.
#[allow(unreachable_pub)]
pub struct Answer<T>(Option<Result<T, Rc<RefCell<Slot<T>>>>>);

impl<T> Answer<T> {
    /// An answer available at once.
    pub(crate) fn now(value: T) -> Self {
        Self(Some(Ok(value)))
    }
}

impl<A, M, T> MessageResponse<A, M> for Answer<T>
where
    A: Actor,
    M: Message<Result = T>,
    T: 'static,
{
    fn handle(mut self, _: &mut A::Context, tx: Option<OneshotSender<T>>) {
        let Some(answer) = self.0.take() else {
            return;
        };
        match (answer, tx) {
            (Ok(value), Some(tx)) => {
                let _ = tx.send(value);
            }
            (Ok(_), None) => {}
            (Err(slot), tx) => {
                let mut slot = slot.borrow_mut();
                match (std::mem::replace(&mut *slot, Slot::Detached), tx) {
                    (Slot::Ready(value), Some(tx)) => {
                        let _ = tx.send(value);
                    }
                    (Slot::Pending, Some(tx)) => *slot = Slot::Caller(tx),
                    // `do_send`: nobody waits; a parked operation still
                    // runs, and its reply is dropped.
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
impl<T> Answer<T> {
    /// The value, once the parked operation was answered (for unit tests
    /// that drive waiters without an actor).
    pub(crate) fn take_ready(&mut self) -> Option<T> {
        match self.0.take()? {
            Ok(value) => Some(value),
            Err(slot) => {
                let taken = std::mem::replace(&mut *slot.borrow_mut(), Slot::Pending);
                let ready = match taken {
                    Slot::Ready(value) => Some(value),
                    other => {
                        *slot.borrow_mut() = other;
                        None
                    }
                };
                if ready.is_none() {
                    self.0 = Some(Err(slot));
                }
                ready
            }
        }
    }
}

/// Something parked that may have been abandoned by its caller.
pub(crate) trait Waiting {
    /// True once nobody waits for it any more.
    fn is_canceled(&self) -> bool;
}

impl<T> Waiting for Reply<T> {
    fn is_canceled(&self) -> bool {
        Reply::is_canceled(self)
    }
}

impl<X, T> Waiting for (X, Reply<T>) {
    fn is_canceled(&self) -> bool {
        self.1.is_canceled()
    }
}

/// Drops the waiters at the front of `q` whose callers stopped waiting,
/// so they take nothing.
pub(crate) fn prune<W: Waiting>(q: &mut VecDeque<W>) {
    while q.front().is_some_and(W::is_canceled) {
        q.pop_front();
    }
}

/// The first waiter of `q` whose caller still waits, taken out.
pub(crate) fn next_live<W: Waiting>(q: &mut VecDeque<W>) -> Option<W> {
    prune(q);
    q.pop_front()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix::prelude::*;

    /// An actor that parks every `Ask` until `Release` answers them.
    #[derive(Default)]
    struct Parker {
        parked: VecDeque<Reply<u32>>,
        delivered: Vec<u32>,
        undelivered: Vec<u32>,
    }

    impl Actor for Parker {
        type Context = Context<Self>;
    }

    #[derive(Message)]
    #[rtype(result = "u32")]
    struct Ask;

    #[derive(Message)]
    #[rtype(result = "(Vec<u32>, Vec<u32>)")]
    struct Release(Vec<u32>);

    impl Handler<Ask> for Parker {
        type Result = Answer<u32>;
        fn handle(&mut self, _: Ask, _: &mut Context<Self>) -> Answer<u32> {
            let (reply, answer) = park();
            self.parked.push_back(reply);
            answer
        }
    }

    impl Handler<Release> for Parker {
        type Result = MessageResult<Release>;
        fn handle(&mut self, msg: Release, _: &mut Context<Self>) -> Self::Result {
            for v in msg.0 {
                match next_live(&mut self.parked) {
                    Some(r) => match r.send(v) {
                        Ok(()) => self.delivered.push(v),
                        Err(v) => self.undelivered.push(v),
                    },
                    None => self.undelivered.push(v),
                }
            }
            MessageResult((self.delivered.clone(), self.undelivered.clone()))
        }
    }

    #[actix::test]
    async fn a_parked_reply_reaches_its_caller() {
        let a = Parker::default().start();
        let ask = a.send(Ask);
        let release = a.send(Release(vec![7]));
        assert_eq!(ask.await.unwrap(), 7);
        assert_eq!(release.await.unwrap(), (vec![7], vec![]));
    }

    #[actix::test]
    async fn an_abandoned_wait_takes_nothing() {
        let a = Parker::default().start();
        // The first caller gives up before the answer exists.
        let first = a.send(Ask);
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(1), first).await;
        assert!(gave_up.is_err());
        let second = a.send(Ask);
        // Let the second `Ask` park behind the abandoned one.
        let (delivered, undelivered) = a.send(Release(vec![])).await.unwrap();
        assert!(delivered.is_empty() && undelivered.is_empty());
        let (delivered, _) = a.send(Release(vec![1])).await.unwrap();
        assert_eq!(delivered, vec![1]);
        assert_eq!(second.await.unwrap(), 1, "the live caller got the value");
    }

    #[actix::test]
    async fn answered_before_the_handler_returns() {
        struct Now;
        impl Actor for Now {
            type Context = Context<Self>;
        }
        impl Handler<Ask> for Now {
            type Result = Answer<u32>;
            fn handle(&mut self, _: Ask, _: &mut Context<Self>) -> Answer<u32> {
                let (reply, answer) = park();
                assert!(reply.send(3).is_ok());
                answer
            }
        }
        assert_eq!(Now.start().send(Ask).await.unwrap(), 3);
    }

    #[actix::test]
    async fn do_send_runs_a_parked_operation_without_a_caller() {
        let a = Parker::default().start();
        a.do_send(Ask);
        let (delivered, undelivered) = a.send(Release(vec![5])).await.unwrap();
        // Nobody waits for a `do_send`, but what it asked for happens.
        assert_eq!(delivered, vec![5]);
        assert!(undelivered.is_empty());
    }
}
