//! View changes (Castro & Liskov, PBFT §4.4, with the liveness rules of
//! §4.5.2): a member whose view timer expires while work is pending asks for
//! the next view with a signed view change that carries its prepared
//! certificate (the block it prepared, with 2f+1 prepare votes). f+1 members
//! asking for later views make every member join the smallest of them, and
//! the timer doubles after every view that failed.
//!
//! The new primary, holding 2f+1 view changes for its view, sends a new-view
//! message that contains them and re-proposes the block of the highest
//! prepared certificate among them (or a fresh block if none prepared);
//! every member re-does that work before entering the view. A member that
//! asked for view t takes no part in any view below t, so two new views can
//! never decide different blocks at one height.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use dhtr_protocol::PeerRef;
use serde_bytes::ByteBuf;

use super::{Event, MAX_VIEWS_AHEAD, Replica};
use crate::msg::{Body, NewView, Proposal, ViewChange};
use crate::store::{Store, StoreError};
use crate::types::{Block, Digest, Phase};
use crate::verify::{self, Reject};

impl Replica {
    /// PBFT §4.5.2: the view timer expired. With work still pending, ask
    /// for the next view (during a view change that 2f+1 members joined, for
    /// the one after it; otherwise repeat our request).
    pub(super) fn view_timer_expired<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        unix: u64,
        store: &mut S,
    ) -> Result<(), StoreError> {
        self.deadline = None;
        self.expire_pending(now);
        if self.proposal.is_none() && self.pending.is_empty() && self.changing_to.is_none() {
            return Ok(());
        }
        // PBFT §4.5.2: a backup whose timer expires relays the requests
        // it waits for to the other members; a member that never received
        // a transaction (or lost it) learns it, times out too, and the
        // view change it then joins can make progress.
        self.relay_pending();
        self.failed_views += 1;
        match self.changing_to {
            // PBFT §4.5.2: move past a view change only once 2f+1
            // members asked for it (its new primary then failed);
            // otherwise ask again, in case our request was lost.
            Some(t) if self.view_changes.get(&t).map_or(0, |m| m.len()) < self.committee.quorum() => {
                let me = self.signer.peer().clone();
                if let Some(vc) = self.view_changes.get(&t).and_then(|m| m.get(&me)).cloned() {
                    self.broadcast(Body::ViewChange(vc));
                }
                self.arm(now);
            }
            Some(t) => self.start_view_change(now, unix, t + 1, store)?,
            None => self.start_view_change(now, unix, self.view + 1, store)?,
        }
        Ok(())
    }

    /// Our signed request to move to `target` at the current height,
    /// carrying what we prepared.
    fn own_view_change(&self, target: u64) -> ViewChange {
        let mut vc = ViewChange {
            new_view: target,
            height: self.height,
            last: self.last,
            prepared: self.prepared.clone(),
            sender: self.signer.peer().clone(),
            sig: ByteBuf::new(),
        };
        vc.sig = ByteBuf::from(self.signer.sign(&vc.digest(&self.network, self.chunk)));
        vc
    }

    /// PBFT §4.4: ask to move to `target`, carrying what we prepared.
    pub(super) fn start_view_change<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        unix: u64,
        target: u64,
        store: &mut S,
    ) -> Result<(), StoreError> {
        if target <= self.view || self.changing_to.is_some_and(|c| c >= target) {
            return Ok(());
        }
        self.changing_to = Some(target);
        self.log.asked = self.log.asked.max(target);
        self.log.asked_height = self.height;
        store.save_votes(self.chunk, &self.log)?;
        let vc = self.own_view_change(target);
        self.view_changes.entry(target).or_default().insert(vc.sender.clone(), vc.clone());
        self.broadcast(Body::ViewChange(vc));
        self.deadline = None;
        self.arm(now);
        self.maybe_new_view(now, unix, store)
    }

    pub(super) fn on_view_change<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        unix: u64,
        from: PeerRef,
        vc: ViewChange,
        store: &mut S,
    ) -> Result<(), StoreError> {
        if vc.height < self.height {
            // The sender is behind: help it catch up (members only).
            if !self.committee.contains(&from) {
                return Ok(());
            }
            return self.send_blocks(&from, vc.height, store);
        }
        if vc.height > self.height {
            if verify::check_view_change(&self.network, self.chunk, &self.committee, &vc).is_ok() {
                self.behind(now, &from);
            }
            return Ok(());
        }
        // Cheap checks before any signature is verified.
        let too_far = vc.new_view > self.view.saturating_add(MAX_VIEWS_AHEAD);
        if vc.new_view <= self.view && vc.last == self.last {
            // The sender still asks for a view we already entered: it missed
            // the new-view message. Send it again, to it alone.
            if let Some(nv) = self.entered_by.as_ref().filter(|nv| nv.view >= vc.new_view).cloned() {
                self.send(from.clone(), Body::NewView(nv));
            } else if self.committee.contains(&from) && self.helped.insert((from.clone(), vc.new_view)) {
                // We are past that view without a new-view message to show
                // (we learned the view from a certificate): our own request
                // for it lets the sender gather 2f+1 and move on. It promises
                // nothing we have not done: we take no part in lower views.
                let mine = self.own_view_change(vc.new_view);
                self.send(from.clone(), Body::ViewChange(mine));
            }
        }
        if vc.new_view <= self.view || vc.last != self.last || too_far {
            self.reject(&from, Reject::Stale);
            return Ok(());
        }
        if let Err(r) = verify::check_view_change(&self.network, self.chunk, &self.committee, &vc) {
            self.reject(&from, r);
            return Ok(());
        }
        let asked_for = vc.new_view;
        self.view_changes.entry(asked_for).or_default().insert(vc.sender.clone(), vc);
        // We already moved past that view: the sender may be missing our
        // request for it (lost), without which it can never see 2f+1 and
        // follow us. Send it again, to it alone.
        if self.changing_to.is_some_and(|t| t > asked_for) {
            let me = self.signer.peer().clone();
            if let Some(mine) = self.view_changes.get(&asked_for).and_then(|m| m.get(&me)).cloned() {
                self.send(from.clone(), Body::ViewChange(mine));
            }
        }
        // PBFT §4.5.2: f+1 members asking for later views prove at least
        // one honest member timed out: join the smallest such view.
        let current = self.changing_to.unwrap_or(self.view);
        let mut askers: HashMap<&PeerRef, u64> = HashMap::new();
        for (v, m) in self.view_changes.range(current + 1..) {
            for p in m.keys() {
                askers.entry(p).or_insert(*v);
            }
        }
        if askers.len() > self.committee.f()
            && let Some(target) = askers.values().min().copied()
        {
            self.start_view_change(now, unix, target, store)?;
        }
        self.maybe_new_view(now, unix, store)
    }

    /// PBFT §4.4: the new primary, holding 2f+1 view changes, announces the
    /// view and re-proposes the highest prepared block (or a fresh one).
    fn maybe_new_view<S: Store + ?Sized>(&mut self, now: Instant, unix: u64, store: &mut S) -> Result<(), StoreError> {
        let Some(target) = self.changing_to else { return Ok(()) };
        if !self.i_am_primary(target) || self.new_view_sent == Some(target) {
            return Ok(());
        }
        let Some(vcs) = self.view_changes.get(&target) else { return Ok(()) };
        if vcs.len() < self.committee.quorum() {
            return Ok(());
        }
        let vcs: Vec<ViewChange> = vcs.values().cloned().collect();
        let justified = highest_prepared(&vcs).map(|b| b.hash());
        let proposal = match highest_prepared(&vcs) {
            Some(block) => Some(self.sign_proposal(target, block)),
            None if self.proposable().next().is_some() => {
                Some(self.sign_proposal(target, self.new_block(target, unix)))
            }
            None => None,
        };
        if let Some(p) = &proposal {
            self.log.record(Phase::PrePrepare, target, self.height, p.block.hash());
            store.save_votes(self.chunk, &self.log)?;
            self.emit(Event::Proposed { height: self.height });
        }
        let mut nv = NewView {
            view: target,
            height: self.height,
            view_changes: vcs,
            proposal: proposal.clone(),
            sender: self.signer.peer().clone(),
            sig: ByteBuf::new(),
        };
        nv.sig = ByteBuf::from(self.signer.sign(&nv.digest(&self.network, self.chunk)));
        self.new_view_sent = Some(target);
        self.entered_by = Some(nv.clone());
        self.broadcast(Body::NewView(nv));
        self.enter_view(now, target, proposal, justified, store)
    }

    pub(super) fn on_new_view<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        from: PeerRef,
        nv: NewView,
        store: &mut S,
    ) -> Result<(), StoreError> {
        if !crate::sign::verify(&nv.sender, &nv.digest(&self.network, self.chunk), &nv.sig)
            || !self.committee.contains(&nv.sender)
        {
            self.reject(&from, Reject::BadSignature);
            return Ok(());
        }
        if nv.height > self.height {
            self.behind(now, &from);
            return Ok(());
        }
        // Asking for view t promised not to take part in any view below t
        // (PBFT §4.4): a new view below it is refused, or two new views could
        // each gather 2f+1 members and decide different blocks.
        let below_asked = self.changing_to.is_some_and(|t| nv.view < t);
        if nv.height < self.height || nv.view <= self.view || below_asked {
            self.reject(&from, Reject::Stale);
            return Ok(());
        }
        match self.check_new_view(&nv) {
            Ok(()) => {
                let justified = highest_prepared(&nv.view_changes).map(|b| b.hash());
                let (view, proposal) = (nv.view, nv.proposal.clone());
                self.entered_by = Some(nv);
                self.enter_view(now, view, proposal, justified, store)
            }
            Err(r) => {
                self.reject(&from, r);
                Ok(())
            }
        }
    }

    /// Every member re-does the new primary's work: 2f+1 valid view changes
    /// for this view, and the proposal they force.
    fn check_new_view(&self, nv: &NewView) -> Result<(), Reject> {
        let (net, chunk, c) = (&self.network, self.chunk, &self.committee);
        if c.primary(nv.view) != Some(&nv.sender) {
            return Err(Reject::WrongProposer);
        }
        if !crate::sign::verify(&nv.sender, &nv.digest(net, chunk), &nv.sig) {
            return Err(Reject::BadSignature);
        }
        let mut senders = HashSet::new();
        for vc in &nv.view_changes {
            if vc.new_view != nv.view || vc.height != self.height || vc.last != self.last {
                return Err(Reject::BadCertificate);
            }
            verify::check_view_change(net, chunk, c, vc).map_err(|_| Reject::BadCertificate)?;
            senders.insert(&vc.sender);
        }
        if senders.len() < c.quorum() {
            return Err(Reject::BadCertificate);
        }
        match (highest_prepared(&nv.view_changes), &nv.proposal) {
            (Some(b), Some(p)) if p.block.hash() == b.hash() && p.view == nv.view => {
                verify::check_proposal(net, chunk, c, p)
            }
            (None, Some(p)) if p.view == nv.view && p.block.view == nv.view => verify::check_proposal(net, chunk, c, p),
            (None, None) => Ok(()),
            _ => Err(Reject::BadCertificate),
        }
    }

    /// Enter `view`. `justified` is the block the new view's 2f+1 view
    /// changes proved prepared: 2f+1 prepares mean at least f+1 honest
    /// validators accepted it, so it counts as validated here too (otherwise
    /// one member whose validator now disagrees could stall the height).
    fn enter_view<S: Store + ?Sized>(
        &mut self,
        now: Instant,
        view: u64,
        proposal: Option<Proposal>,
        justified: Option<Digest>,
        store: &mut S,
    ) -> Result<(), StoreError> {
        if let Some(h) = justified {
            self.verdicts.insert(h, true);
        }
        self.view = view;
        self.changing_to = None;
        if self.log.view < view {
            self.log.view = view;
            store.save_votes(self.chunk, &self.log)?;
        }
        self.proposal = None;
        self.view_changes = self.view_changes.split_off(&(view + 1));
        self.deadline = None;
        self.emit(Event::ViewChanged { view });
        match proposal {
            Some(p) => self.accept_proposal(now, p, store),
            None => {
                if !self.pending.is_empty() {
                    self.arm(now);
                }
                Ok(())
            }
        }
    }
}

/// The block of the highest-view prepared certificate among view changes.
fn highest_prepared(vcs: &[ViewChange]) -> Option<Block> {
    vcs.iter().filter_map(|vc| vc.prepared.as_ref()).max_by_key(|p| p.view).map(|p| p.block.clone())
}
