//! The renewable grant: asked for before the first call that needs it and after a 401
//! ([`Action::NeedToken`]), and what happens to the calls waiting for it.

use super::io::{Action, FileId};
use super::state::{Grant, Phase};
use super::Engine;
use crate::core::error::Error;

impl Engine {
    /// Whether a call that needs the grant may go out now. If the grant is missing, asks for it
    /// (once): the call waits for [`Input::TokenRefreshed`](super::Input::TokenRefreshed).
    pub(super) fn grant_ready(&mut self) -> bool {
        match self.grant {
            Grant::Held => true,
            Grant::Requested => false,
            Grant::Missing => {
                self.grant = Grant::Requested;
                self.actions.push_back(Action::NeedToken);
                false
            }
        }
    }

    /// A grant asked for while no upload is left to use it is given up on
    /// ([`Action::TokenUnneeded`]), so that nothing waits for a `getToken` that may never answer.
    pub(super) fn release_grant_request(&mut self) {
        if self.grant == Grant::Requested && self.uploads.is_empty() {
            self.grant = Grant::Missing;
            self.actions.push_back(Action::TokenUnneeded);
        }
    }

    /// The grant was refused (a 401): the next call that needs one asks for a fresh one first,
    /// unless one is already on its way.
    pub(super) fn grant_refused(&mut self) {
        if self.grant == Grant::Held {
            self.grant = Grant::Missing;
        }
    }

    pub(super) fn on_token_refreshed(&mut self) {
        if self.config.renewable_grant {
            self.grant = Grant::Held;
        }
    }

    /// Deletes the asset an aborted upload reserved (best effort: [`Action::DeleteAsset`]), at
    /// once, whether or not a grant is held: the adapter's one-off call gets one itself, with
    /// its own retries (an upload continued after a reload never needed one, and a `getToken`
    /// that fails once must not lose the deletion).
    pub(super) fn delete_asset(&mut self, asset_id: String) {
        self.actions.push_back(Action::DeleteAsset { asset_id });
    }

    /// No grant to be had (`getToken` failed with `error`). Every upload whose next call waits
    /// for one counts it as a failure of that call: a retryable `error` (the network, as
    /// `getToken`'s own `fetch` saw it) is tried again after the call's backoff, when a grant is
    /// asked for again; any other ends the upload with it. Uploads still backing off ask again
    /// when they are due.
    pub(super) fn on_token_failed(&mut self, now_ms: u64, error: Error) {
        if !self.config.renewable_grant {
            return;
        }
        self.grant = Grant::Missing;
        let waiting: Vec<(FileId, Phase)> = self
            .uploads
            .iter()
            .filter(|(_, u)| match u.phase {
                Phase::CreatingSession | Phase::DirectUploading => u.create_lane.ready(now_ms),
                Phase::AwaitingAsset => u.asset_lane.ready(now_ms),
                Phase::Reconciling | Phase::Uploading | Phase::Confirming => false,
            })
            .map(|(&file, u)| (file, u.phase))
            .collect();
        for (file, phase) in waiting {
            if !error.code.is_retryable() {
                self.finish(now_ms, file, Err(error.clone()));
            } else if phase == Phase::AwaitingAsset {
                self.lane_retry(now_ms, file, |u| &mut u.asset_lane, None, error.clone());
            } else {
                self.creation_token_failure(now_ms, file, error.clone());
            }
        }
    }
}
