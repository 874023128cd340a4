"""Redis key layout, in one place. Every key starts with the deployment prefix."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Keys"]


@dataclass(frozen=True)
class Keys:
    prefix: str

    def dispatch(self, dispatch_id: str) -> str:
        return f"{self.prefix}:dispatch:{dispatch_id}"

    @property
    def timers(self) -> str:
        """Sorted set: timer member -> score (due, or lease end once claimed)."""
        return f"{self.prefix}:timers"

    @property
    def timer_due(self) -> str:
        """Hash: timer member -> original due time (ms), for lateness."""
        return f"{self.prefix}:timers:due"

    @property
    def effects(self) -> str:
        """Sorted set: dispatch id -> when its effects not yet done are retried (ms)."""
        return f"{self.prefix}:effects"

    def held(self, held_id: str) -> str:
        return f"{self.prefix}:held:{held_id}"

    def seen(self, key: str) -> str:
        return f"{self.prefix}:seen:{key}"

    def practice(self, practice_id: str) -> str:
        return f"{self.prefix}:practice:{practice_id}"

    @property
    def practices(self) -> str:
        return f"{self.prefix}:practices"

    def practice_history(self, practice_id: str) -> str:
        """List: one JSON entry per stored revision (revision, at, actor, summary)."""
        return f"{self.prefix}:practice-history:{practice_id}"

    def practice_revisions(self, practice_id: str) -> str:
        """Hash: revision number -> the practice JSON at that revision."""
        return f"{self.prefix}:practice-revisions:{practice_id}"

    def devices(self, clinician_id: str) -> str:
        """Hash: device id -> the device's JSON record, for one clinician."""
        return f"{self.prefix}:devices:{clinician_id}"

    @property
    def device_owners(self) -> str:
        """Hash: device id -> the clinician who owns it (one owner per device id)."""
        return f"{self.prefix}:device-owners"

    @property
    def recorded_pushes(self) -> str:
        return f"{self.prefix}:pushes"

    @property
    def clock_offset(self) -> str:
        return f"{self.prefix}:clock:offset"

    def api_key(self, key_id: str) -> str:
        """Hash: one integration API key (digest, integration, practices, dates)."""
        return f"{self.prefix}:api-key:{key_id}"

    @property
    def api_keys(self) -> str:
        """Set: every API key id, revoked ones included (they stay for the audit)."""
        return f"{self.prefix}:api-keys"

    def ingest(self, event_id: str) -> str:
        """String: what the HTTP ingest accepted under an event id ("pending:" while its
        publish is in flight, then the event's fingerprint)."""
        return f"{self.prefix}:ingest:{event_id}"

    def account(self, account_id: str) -> str:
        """Hash: one person's account (roles, scope, password hash, sealed TOTP secret)."""
        return f"{self.prefix}:account:{account_id}"

    @property
    def account_names(self) -> str:
        """Hash: username (lower case) -> account id."""
        return f"{self.prefix}:account-names"

    def sign_in_failures(self, account_id: str, address: str = "*") -> str:
        """Failed sign-ins of an account from one address (``*``: from anywhere)."""
        return f"{self.prefix}:sign-in-failures:{account_id}:{address}"

    def sign_in_lock(self, account_id: str, address: str = "*") -> str:
        """An account locked for one address (``*``: for every address)."""
        return f"{self.prefix}:sign-in-lock:{account_id}:{address}"

    def sign_in_address(self, address: str) -> str:
        return f"{self.prefix}:sign-in-address:{address}"

    def totp_used(self, account_id: str, code: str) -> str:
        return f"{self.prefix}:totp-used:{account_id}:{code}"

    def session(self, family: str) -> str:
        """Hash: one signed-in session (a token family): account, device, dates."""
        return f"{self.prefix}:session:{family}"

    def access_token(self, digest: str) -> str:
        return f"{self.prefix}:access:{digest}"

    def refresh_token(self, digest: str) -> str:
        return f"{self.prefix}:refresh:{digest}"

    def desk_claim(self, dispatch_id: str) -> str:
        """String: ``<operator>|<desk>`` of the claim on a desk alert (first one wins)."""
        return f"{self.prefix}:desk-claim:{dispatch_id}"

    def desk_note(self, dispatch_id: str) -> str:
        """String: the resolving operator's note, sealed with the vault key (PHI)."""
        return f"{self.prefix}:desk-note:{dispatch_id}"

    def paged(self, clinician_id: str) -> str:
        """Sorted set: the dispatches a clinician was paged for, scored by when (ms)."""
        return f"{self.prefix}:paged:{clinician_id}"

    def account_sessions(self, account_id: str) -> str:
        """Set: the session families of an account (ended together on reset or disable)."""
        return f"{self.prefix}:account-sessions:{account_id}"

    def desk_claims(self, operator_id: str) -> str:
        """Set: the dispatches an operator claimed and has not resolved."""
        return f"{self.prefix}:desk-claims:{operator_id}"

    def calendar_feed(self, digest: str) -> str:
        """String: ``<account>|<clinician>|<practice>`` of a calendar feed's secret token."""
        return f"{self.prefix}:calendar-feed:{digest}"

    def calendar_feed_of(self, account_id: str, practice_id: str) -> str:
        """String: the digest of an account's feed token for a practice (to revoke it)."""
        return f"{self.prefix}:calendar-feed-of:{account_id}:{practice_id}"

    def read_model_seen(self, topic: str, event_id: str) -> str:
        """String: the read model applied this event already (a redelivery is skipped)."""
        return f"{self.prefix}:read-model-seen:{topic}:{event_id}"

    def usage(self, practice_id: str, day: str) -> str:
        """Hash: counter name -> count, for one practice and one local day (YYYY-MM-DD)."""
        return f"{self.prefix}:usage:{practice_id}:{day}"

    def message_index(self, practice_id: str) -> str:
        """Sorted set: a practice's dispatches by creation time (ms), for message history."""
        return f"{self.prefix}:message-index:{practice_id}"

    def message_meta(self, dispatch_id: str) -> str:
        """Hash: a dispatch's history row (practice, urgency, status, level, dates)."""
        return f"{self.prefix}:message-meta:{dispatch_id}"

    def message_timeline(self, dispatch_id: str) -> str:
        """List: a dispatch's audit entries as JSON, in order (no PHI)."""
        return f"{self.prefix}:message-timeline:{dispatch_id}"

    def practice_audit(self, practice_id: str) -> str:
        """Sorted set: a practice's audit records as JSON by time (ms), for its audit log."""
        return f"{self.prefix}:practice-audit:{practice_id}"

    def audit_chain(self, partition: int) -> str:
        """Hash: the audit chain's head for one partition (offset, hash, count)."""
        return f"{self.prefix}:audit-chain:{partition}"

    def audit_checkpoints(self, partition: int) -> str:
        """Sorted set: ``<offset>:<hash>`` checkpoints of a partition's chain, by offset."""
        return f"{self.prefix}:audit-checkpoints:{partition}"
