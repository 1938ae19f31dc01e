//! Deferred actions (as in sel4-microkit): a notify or IRQ ack that the
//! event loop performs just before it waits for the next event. On seL4 this
//! lets the runtime fuse the send with the receive in one system call; on the
//! host it is simply done at that point.

use crate::{Channel, IrqAckError};

/// What a deferred action does.
#[derive(Debug, Copy, Clone, Eq, PartialEq)]
pub enum DeferredActionInterface {
    /// `Channel::notify`.
    Notify,
    /// `Channel::irq_ack`.
    IrqAck,
}

/// A notify or IRQ ack to perform later.
#[derive(Debug, Copy, Clone, Eq, PartialEq)]
pub struct DeferredAction {
    channel: Channel,
    interface: DeferredActionInterface,
}

impl DeferredAction {
    /// An action on `channel`.
    pub fn new(channel: Channel, interface: DeferredActionInterface) -> Self {
        Self { channel, interface }
    }

    /// A deferred `notify`.
    pub fn new_notify(channel: Channel) -> Self {
        Self::new(channel, DeferredActionInterface::Notify)
    }

    /// A deferred `irq_ack`.
    pub fn new_irq_ack(channel: Channel) -> Self {
        Self::new(channel, DeferredActionInterface::IrqAck)
    }

    /// The channel.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// What it does.
    pub fn interface(&self) -> DeferredActionInterface {
        self.interface
    }

    /// Performs it now.
    pub fn execute_now(self) -> Result<(), IrqAckError> {
        match self.interface {
            DeferredActionInterface::Notify => {
                self.channel.notify();
                Ok(())
            }
            DeferredActionInterface::IrqAck => self.channel.irq_ack(),
        }
    }
}

/// Holds at most one deferred action; deferring a second one performs the
/// first immediately.
#[derive(Debug, Default)]
pub struct DeferredActionSlot {
    inner: Option<DeferredAction>,
}

impl DeferredActionSlot {
    /// An empty slot.
    pub const fn new() -> Self {
        Self { inner: None }
    }

    /// Takes the pending action (for `Handler::take_deferred_action`).
    pub fn take(&mut self) -> Option<DeferredAction> {
        self.inner.take()
    }

    /// Defers `action`, performing any previously deferred one now.
    pub fn defer(&mut self, action: DeferredAction) -> Result<(), IrqAckError> {
        match self.inner.replace(action) {
            Some(previous) => previous.execute_now(),
            None => Ok(()),
        }
    }

    /// Defers a notify on `channel`.
    pub fn defer_notify(&mut self, channel: Channel) -> Result<(), IrqAckError> {
        self.defer(DeferredAction::new_notify(channel))
    }

    /// Defers an IRQ ack on `channel`.
    pub fn defer_irq_ack(&mut self, channel: Channel) -> Result<(), IrqAckError> {
        self.defer(DeferredAction::new_irq_ack(channel))
    }
}
