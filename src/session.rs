//! The session: a time-limited, in-memory unlock of secrets held by the daemon, like
//! gpg-agent or git's credential-cache (requirements §1, §2). Depends on [`crate::secrets`] (identity,
//! vaults, scan), [`crate::guard`] (the pure scan hold, `guard::hold`), [`crate::audit`],
//! [`crate::tripwire`] (the alert of a tripped canary or burst), [`crate::auth`] (a process's parent,
//! from `/proc`), [`crate::text`] (hex) and [`crate::paths`]; knows
//! nothing of HTTP or sockets.
//!
//! While unlocked, the daemon holds the user's [`Identity`] (age's key type, zeroized on
//! drop) and the values it decrypted (each a [`SecretValue`], a `Zeroizing` buffer), behind
//! one `Mutex`. Everything is wiped on [`Session::lock`], on expiry — by a timer thread that
//! waits on a condition variable with a timeout, so no request needs to arrive — and when
//! the session is dropped (daemon shutdown). Every unlock, lock, expiry and release of values
//! is written to the audit log ([`crate::audit`]), names only.

use crate::audit::{self, Event};
use crate::guard::hold::{Hit, Hold};
use crate::paths::Home;
use crate::secrets::scan::Known;
use crate::secrets::{self, EnvMap, Identity, SecretValue};
use crate::tripwire::{self, Kind as TripKind};
use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// How long an unlock lasts when no TTL is given: 15 minutes (gpg-agent's
/// `default-cache-ttl` is 10 minutes, git's credential-cache 15).
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// The longest unlock accepted: 12 hours, a working day. Longer asks are refused (400), not
/// clamped, so a typo such as `--ttl 10000h` is noticed.
pub const MAX_TTL: Duration = Duration::from_secs(12 * 3600);

/// How long the scan hold ([`crate::guard::hold`]) lasts after an unlock when none is
/// given: 10 hours, a working day. The hold never ends before the release TTL.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(10 * 3600);

/// The longest scan hold accepted: [`MAX_TTL`] (12 hours).
pub const MAX_HOLD: Duration = MAX_TTL;

/// Why an unlock or a release was refused. Messages never quote the identity or a value.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The TTL is 0 or past [`MAX_TTL`].
    #[error("the TTL must be between 1 second and {} hours", MAX_TTL.as_secs() / 3600)]
    BadTtl,
    /// The TTL is not a number with an optional unit.
    #[error(
        "the TTL is not a duration: give a number of seconds, or a number with s, m or h (90, 10m, 2h)"
    )]
    TtlSyntax,
    /// The identity text does not parse.
    #[error("the identity is not usable: {0}")]
    BadIdentity(#[from] secrets::identity::ParseError),
    /// The session is locked (or expired).
    #[error("the session is locked; run `patina session unlock`")]
    Locked,
    /// A panic inside the daemon while it held the session's state: everything was wiped,
    /// and no unlock is accepted until the daemon restarts (the poisoned-lock policy).
    #[error(
        "the session was wiped after an internal error in the daemon; restart it (`patina stop`, then `patina serve`) to unlock again"
    )]
    Damaged,
    /// The user refused the release at the confirmation console, or did not answer in time
    /// (`session unlock --confirm`).
    #[error("the release was refused at the confirmation console ({0})")]
    Refused(&'static str),
    /// A confirmation-console call without the console's token, or for an unknown request.
    #[error("not the confirmation console of this session")]
    NotConsole,
    /// A vault operation failed (names the file, never content). When
    /// [`secrets::Error::is_io`] (a file could not be read or written) it is the machine's
    /// failure, 500; otherwise the caller's input does not fit (the identity cannot decrypt,
    /// not a vault, a bad name), 400.
    #[error(transparent)]
    Vault(secrets::Error),
    /// The random source failed while making the confirmation console's token: the
    /// machine's failure, 500 (the unlock is refused rather than given a predictable token).
    #[error("no console token: the random source failed ({0})")]
    Random(std::io::Error),
    /// A tripwire tripped (a canary was touched, or a burst of findings): the session is
    /// locked, and an unlock needs `--ack-canary` (issue 20). Names no value.
    #[error(
        "patina is locked by a tripwire ({0}); the user must run `patina session unlock --ack-canary`"
    )]
    Tripped(String),
}

/// One vault the session has decrypted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VaultRef {
    /// `global` or `project`.
    pub kind: String,
    /// Its directory.
    pub path: String,
}

/// What `GET /session` reports: no names, no values.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Status {
    /// Whether secrets are held now.
    pub unlocked: bool,
    /// Seconds until they are wiped (0 when locked).
    pub expires_in_secs: u64,
    /// The vaults decrypted so far in this unlock.
    pub vaults: Vec<VaultRef>,
    /// Seconds until the scan hold (known values kept for `patina guard` only, as keyed
    /// digests) is wiped; 0 when there is none.
    #[serde(default)]
    pub hold_expires_in_secs: u64,
    /// Whether a tripwire tripped and was not acknowledged (`session unlock --ack-canary`).
    #[serde(default)]
    pub tripped: bool,
}

/// What an unlock keeps besides the release TTL: the scan hold, and whether values may be
/// released at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnlockOptions {
    /// How long the scan hold lasts (at least the TTL, at most [`MAX_HOLD`]); zero for no
    /// hold beyond the TTL.
    pub hold: Duration,
    /// Keep only the scan hold: the identity is dropped at once and no value can be released
    /// (`patina session unlock --scan-only`).
    pub scan_only: bool,
    /// Confirm every release at the console (`patina session unlock --confirm`): how long a
    /// release waits for an answer (at most [`MAX_CONFIRM_TIMEOUT`]) before it is refused.
    pub confirm: Option<Duration>,
    /// Acknowledge a tripped tripwire (`patina session unlock --ack-canary`): clears the
    /// alert (audited as `ack`). Without it, an unlock after a trip is refused.
    pub ack_canary: bool,
}

impl Default for UnlockOptions {
    fn default() -> Self {
        UnlockOptions {
            hold: DEFAULT_HOLD,
            scan_only: false,
            confirm: None,
            ack_canary: false,
        }
    }
}

struct ScanHold {
    hold: Hold,
    /// The pieces of the values, for scry's redaction while nothing is held in clear
    /// ([`Hold::pieces`]).
    pieces: Hold,
    /// The names of the canary secrets among the held values: a hit on one trips.
    canaries: BTreeSet<String>,
    expires: Instant,
}

struct Unlocked {
    identity: Identity,
    expires: Instant,
    vaults: Vec<VaultRef>,
    /// Every value decrypted in this unlock, with its name, for scan and scry redaction: a
    /// name may hold several values (from the global and a project vault, or before and
    /// after a change). Zeroized on drop.
    known: Vec<(String, SecretValue)>,
    /// Inode and modification time of the global vault when `known` last absorbed it: a
    /// secret added while unlocked is redacted from then on, without a new unlock.
    global_stamp: Option<(u64, i64, i64)>,
    /// Unlocked with `--confirm`: every release waits for the console's answer.
    confirm: Option<Confirm>,
    /// The names of the canary secrets among `known`.
    canaries: BTreeSet<String>,
}

/// The confirmation console of an unlock made with `--confirm` (like `ssh-add -c`): the
/// token only the unlocking process received, and how long a release waits for an answer.
struct Confirm {
    token: Zeroizing<String>,
    timeout: Duration,
}

/// A release waiting for the console: what it shows, whether the console has fetched it,
/// and the answer once given.
struct Ask {
    id: u64,
    request: serde_json::Value,
    handed: bool,
    answer: Option<bool>,
}

struct State {
    unlocked: Option<Unlocked>,
    /// The guard's scan-only view of the known values; outlives `unlocked` until its own
    /// expiry, `lock` or shutdown.
    hold: Option<ScanHold>,
    stopping: bool,
    asks: Vec<Ask>,
    next_ask: u64,
    /// The last trip since the daemon started, for the confirmation console's last answer.
    tripped: Option<tripwire::Alert>,
    /// When each recent scan that found a known value ran (the burst window).
    burst: VecDeque<Instant>,
    /// Scans with a known value allowed per [`tripwire::BURST_WINDOW`].
    burst_limit: usize,
}

struct Inner {
    home: Home,
    /// A tripwire tripped and was not acknowledged: kept here (and in the hold marker,
    /// `guard::marker`) whatever happens to `alert.json`, until `--ack-canary` (QA session 9,
    /// H2 e). Read without the state's lock.
    tripped: std::sync::atomic::AtomicBool,
    /// The user asked this daemon to stop through the patina binary (`patina stop`): its
    /// shutdown ends the hold marker; any other stop leaves it (H2 b).
    user_stop: std::sync::atomic::AtomicBool,
    state: Mutex<State>,
    wake: Condvar,
    /// Signalled when a release is asked or answered, or the session locks.
    asked: Condvar,
}

/// What [`Session::add_secret`] records beside the value: its scope and whether it is a
/// canary.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddPolicy<'a> {
    /// The commands it may go to (`secrets add --allow`); empty for every command.
    pub allow: &'a [String],
    /// A canary (`secrets add --canary`): never released, a tripwire.
    pub canary: bool,
    /// Replace the value of an existing secret (`secrets add --replace`); without it a name
    /// the vault holds is refused. Under `--confirm` a replace asks the console first.
    pub replace: bool,
    /// The adding CLI ran in a terminal: a project vault that was trusted (or absent) before
    /// the write stays trusted after it ([`secrets::trust`]).
    pub keep_trust: bool,
}

/// The longest a release waits for the console (`--confirm-timeout`), and the default.
pub const MAX_CONFIRM_TIMEOUT: Duration = Duration::from_secs(600);
/// The default wait for an answer at the confirmation console.
pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// The daemon's session state. Dropping it wipes everything and stops the timer thread.
pub struct Session {
    inner: Arc<Inner>,
    timer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session([redacted])")
    }
}

/// The peer a session operation is for: its pid, when known (for the audit log).
pub type Peer = Option<u32>;

impl Session {
    /// A locked session auditing to `home`, with its expiry timer thread started.
    pub fn new(home: Home) -> Session {
        // A trip recorded by an earlier daemon (the alert file, or the marker when the file
        // was removed) holds in this one too.
        let tripped = tripwire::pending(&home).is_some() || crate::guard::marker::tripped(&home);
        let inner = Arc::new(Inner {
            tripped: std::sync::atomic::AtomicBool::new(tripped),
            user_stop: std::sync::atomic::AtomicBool::new(false),
            home,
            state: Mutex::new(State {
                unlocked: None,
                hold: None,
                stopping: false,
                asks: Vec::new(),
                next_ask: 0,
                tripped: None,
                burst: VecDeque::new(),
                burst_limit: tripwire::DEFAULT_BURST_LIMIT,
            }),
            wake: Condvar::new(),
            asked: Condvar::new(),
        });
        let timer = {
            let inner = Arc::clone(&inner);
            std::thread::Builder::new()
                .name("session-expiry".into())
                .spawn(move || expiry_loop(&inner))
                .ok()
        };
        Session {
            inner,
            timer: Mutex::new(timer),
        }
    }

    /// Sets how many scans may find a known value per [`tripwire::BURST_WINDOW`] before the
    /// hold locks (`patina serve --burst-limit`, default [`tripwire::DEFAULT_BURST_LIMIT`]).
    pub fn set_burst_limit(&self, limit: usize) {
        self.state().burst_limit = limit.max(1);
    }

    /// Locks the session and the scan hold at once because a tripwire tripped, and records
    /// the trip ([`tripwire::record`]: audit with the process chain, alert file, console or
    /// desktop notification). Names only.
    fn trip(&self, kind: TripKind, names: Vec<String>, route: &str, peer: Peer) {
        let console = {
            let mut st = self.state();
            let console = st.unlocked.as_ref().is_some_and(|u| u.confirm.is_some());
            st.unlocked = None;
            st.hold = None;
            st.burst.clear();
            refuse_all(&mut st);
            console
        };
        // Kept in memory and in the marker too: removing the alert file undoes nothing.
        self.inner
            .tripped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Err(e) = crate::guard::marker::write_tripped(&self.inner.home) {
            eprintln!("patina: warning: the trip could not be noted in the hold marker ({e})");
        }
        let alert = tripwire::record(&self.inner.home, kind, names, route, peer, console);
        let mut st = self.state();
        st.tripped = Some(alert);
        self.inner.wake.notify_all();
        self.inner.asked.notify_all();
    }

    /// Tells the tripwires what a scan found (`route` names where, `peer` who asked): the
    /// names of the known values it found, once per occurrence or not. A canary among them
    /// trips at once; else a scan with any finding counts towards the burst limit, and the
    /// one past it trips. Called by every daemon-side scan (`/guard/scan`, `/secrets/scan`,
    /// scry's redaction) after it answered, so the caller learns nothing more from a canary
    /// than from any finding, and cannot avoid the trip by its choice of route.
    pub fn observe(&self, found: &[&str], route: &str, peer: Peer) {
        if found.is_empty() {
            return;
        }
        let trip = {
            let mut st = self.state();
            let canaries: BTreeSet<String> = st
                .hold
                .iter()
                .flat_map(|h| h.canaries.iter())
                .chain(st.unlocked.iter().flat_map(|u| u.canaries.iter()))
                .filter(|c| found.contains(&c.as_str()))
                .cloned()
                .collect();
            if !canaries.is_empty() {
                Some((TripKind::Canary, canaries.into_iter().collect::<Vec<_>>()))
            } else {
                let now = Instant::now();
                while st
                    .burst
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > tripwire::BURST_WINDOW)
                {
                    st.burst.pop_front();
                }
                st.burst.push_back(now);
                (st.burst.len() > st.burst_limit).then(|| {
                    let names: BTreeSet<String> = found.iter().map(|n| n.to_string()).collect();
                    (TripKind::Burst, names.into_iter().collect())
                })
            }
        };
        if let Some((kind, names)) = trip {
            self.trip(kind, names, route, peer);
        }
    }

    /// Waits on `asked` up to `left` (a poisoned lock wipes the state, as [`Session::state`]
    /// does).
    fn wait_asked<'a>(&self, st: MutexGuard<'a, State>, left: Duration) -> MutexGuard<'a, State> {
        self.inner
            .asked
            .wait_timeout(st, left)
            .unwrap_or_else(|p| {
                let (st, t) = p.into_inner();
                (wiped(st), t)
            })
            .0
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock fails closed (architecture.md, "Poisoned locks"): a panic while the
        // state was held may have left it half-changed, so every secret it holds is wiped
        // (dropped into `Zeroizing`) and pending releases refused. The poison flag stays set,
        // so this runs at every use, and `unlock` refuses until the daemon restarts.
        match self.inner.state.lock() {
            Ok(st) => st,
            Err(poisoned) => wiped(poisoned.into_inner()),
        }
    }

    /// Panics on a thread while holding the state's lock, poisoning it (the test hook of
    /// the poisoned-lock policy: `POST /debug/poison-session`).
    #[cfg(feature = "fault-injection")]
    pub fn poison_for_test(&self) {
        let inner = Arc::clone(&self.inner);
        let _ = std::thread::spawn(move || {
            let _st = inner.state.lock();
            panic!("injected fault while holding the session's lock");
        })
        .join();
    }

    /// Unlocks with `identity_text` for `ttl` (default [`DEFAULT_TTL`]): parses the identity,
    /// decrypts the global vault and the project's (if any) to check it works and to know
    /// the values for scans, and holds both until lock or expiry. A second unlock replaces
    /// the first.
    pub fn unlock(
        &self,
        identity_text: &[u8],
        ttl: Option<Duration>,
        project: Option<&Path>,
        peer: Peer,
    ) -> Result<Status, SessionError> {
        self.unlock_with(identity_text, ttl, project, peer, UnlockOptions::default())
            .map(|(st, _)| st)
    }

    /// [`Session::unlock`] with a scan hold of `opts.hold` (refused past [`MAX_HOLD`]), or
    /// only the hold (`opts.scan_only`: the values are hashed into it and the identity is
    /// dropped before this returns; nothing can be released until a full unlock).
    ///
    /// With `opts.confirm` (the wait for an answer) every release of values waits for the
    /// confirmation console: returns the console's token (random, 32 bytes hex), which only
    /// the unlocking process receives. `confirm` with `scan_only` is [`SessionError::BadTtl`]
    /// (nothing can be released, so there is nothing to confirm).
    pub fn unlock_with(
        &self,
        identity_text: &[u8],
        ttl: Option<Duration>,
        project: Option<&Path>,
        peer: Peer,
        opts: UnlockOptions,
    ) -> Result<(Status, Option<Zeroizing<String>>), SessionError> {
        if self.inner.state.is_poisoned() {
            return Err(SessionError::Damaged);
        }
        let confirm = opts.confirm;
        let ttl = ttl.unwrap_or(DEFAULT_TTL);
        if ttl.is_zero() || ttl > MAX_TTL || opts.hold > MAX_HOLD {
            return Err(SessionError::BadTtl);
        }
        let hold_for = if opts.scan_only {
            if opts.hold.is_zero() || confirm.is_some() {
                return Err(SessionError::BadTtl);
            }
            opts.hold
        } else {
            opts.hold.max(ttl)
        };
        if confirm.is_some_and(|t| t.is_zero() || t > MAX_CONFIRM_TIMEOUT) {
            return Err(SessionError::BadTtl);
        }
        if self.tripped() && !opts.ack_canary {
            return Err(SessionError::Tripped(
                "read the alert and the audit log first".into(),
            ));
        }
        // The console's token: a failed random source refuses the unlock (a predictable
        // token would let anyone answer the console).
        let token = match confirm {
            Some(_) => {
                let mut b = Zeroizing::new([0u8; 32]);
                crate::secrets::random::fill_random(&mut b[..]).map_err(SessionError::Random)?;
                Some(Zeroizing::new(crate::text::hex(&b[..], false)))
            }
            None => None,
        };
        let identity = Identity::parse(identity_text)?;
        let env = self.decrypt(&identity, project)?;
        if opts.ack_canary {
            let remembered = self
                .inner
                .tripped
                .swap(false, std::sync::atomic::Ordering::SeqCst);
            if !tripwire::acknowledge(&self.inner.home, peer) && remembered {
                // The alert file was gone; the trip is acknowledged all the same.
                audit::record(&self.inner.home, &Event::now("ack", peer));
            }
            crate::guard::marker::clear_trip(&self.inner.home);
            self.state().tripped = None;
        }
        let mut u = Unlocked {
            identity,
            expires: Instant::now() + ttl,
            vaults: Vec::new(),
            known: Vec::new(),
            global_stamp: None,
            confirm: confirm
                .zip(token.clone())
                .map(|(timeout, token)| Confirm { token, timeout }),
            canaries: BTreeSet::new(),
        };
        let names = absorb(&mut u, &self.inner.home, project, env);
        let vaults: Vec<String> = u.vaults.iter().map(|v| v.path.clone()).collect();
        let (hold, pieces) = hold_of(&u);
        let hold = ScanHold {
            hold,
            pieces,
            canaries: u.canaries.clone(),
            expires: Instant::now() + hold_for,
        };
        let status = {
            let mut st = self.state();
            if self.inner.state.is_poisoned() {
                return Err(SessionError::Damaged); // `u` and `hold` are wiped on drop
            }
            if opts.scan_only {
                // A full unlock already running keeps going; its values stay in the hold.
                drop(u);
            } else {
                st.unlocked = Some(u);
                refuse_all(&mut st);
            }
            st.hold = Some(hold);
            self.inner.wake.notify_all();
            self.inner.asked.notify_all();
            status_of(&st)
        };
        // The hold marker: a hook that cannot reach this daemon fails closed while it says
        // a hold exists (`guard::marker`; no secret in it).
        if let Err(e) = crate::guard::marker::write(&self.inner.home, hold_for) {
            eprintln!("patina: warning: the hold marker could not be written ({e})");
        }
        let event = if opts.scan_only { "hold" } else { "unlock" };
        let mut e = Event::now(event, peer).names(names).vaults(vaults);
        if confirm.is_some() {
            e.why = Some("with --confirm".into());
        }
        audit::record(&self.inner.home, &e);
        Ok((status, token))
    }

    /// For the confirmation console: waits up to `wait` for a release to confirm and returns
    /// it (`id`, what to show), `None` when none came. [`SessionError::NotConsole`] without
    /// the console's token; [`SessionError::Locked`] once the session is locked or expired.
    pub fn next_ask(
        &self,
        token: &str,
        wait: Duration,
    ) -> Result<Option<(u64, serde_json::Value)>, SessionError> {
        let deadline = Instant::now() + wait;
        let mut st = self.state();
        loop {
            expire_if_due(&self.inner.home, &mut st);
            let Some(u) = &st.unlocked else {
                return Err(match &st.tripped {
                    Some(a) => SessionError::Tripped(a.message()),
                    None => SessionError::Locked,
                });
            };
            match &u.confirm {
                Some(c) if crate::secrets::scan::ct_eq(c.token.as_bytes(), token.as_bytes()) => {}
                _ => return Err(SessionError::NotConsole),
            }
            if let Some(a) = st.asks.iter_mut().find(|a| !a.handed && a.answer.is_none()) {
                a.handed = true;
                return Ok(Some((a.id, a.request.clone())));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            st = self.wait_asked(st, left);
        }
    }

    /// For the confirmation console: the answer to release `id`.
    pub fn answer(&self, token: &str, id: u64, allow: bool) -> Result<(), SessionError> {
        let mut st = self.state();
        let ok = st
            .unlocked
            .as_ref()
            .and_then(|u| u.confirm.as_ref())
            .is_some_and(|c| crate::secrets::scan::ct_eq(c.token.as_bytes(), token.as_bytes()));
        if !ok {
            return Err(SessionError::NotConsole);
        }
        let Some(a) = st
            .asks
            .iter_mut()
            .find(|a| a.id == id && a.answer.is_none())
        else {
            return Err(SessionError::NotConsole);
        };
        a.answer = Some(allow);
        self.inner.asked.notify_all();
        Ok(())
    }

    /// With `--confirm`: asks the console about releasing `names` to `peer` and waits for the
    /// answer; audited as `confirm` or `deny`. Without: allows at once.
    fn confirm_release(&self, names: &[String], peer: Peer) -> Result<(), SessionError> {
        self.confirm_ask(names, peer, "release")
    }

    /// With `--confirm`: asks the console about `action` (`release`: values to a command;
    /// `replace`: a stored value by `secrets add --replace`) on `names` for `peer` and waits
    /// for the answer; audited as `confirm` or `deny` (route `/session/env` or
    /// `/secrets/add`). Without `--confirm`: allows at once.
    fn confirm_ask(
        &self,
        names: &[String],
        peer: Peer,
        action: &'static str,
    ) -> Result<(), SessionError> {
        let mut st = self.state();
        let Some(timeout) = st
            .unlocked
            .as_ref()
            .and_then(|u| u.confirm.as_ref())
            .map(|c| c.timeout)
        else {
            return Ok(());
        };
        let id = st.next_ask;
        st.next_ask += 1;
        st.asks.push(Ask {
            id,
            request: release_request(names, peer, timeout, action),
            handed: false,
            answer: None,
        });
        self.inner.asked.notify_all();
        let deadline = Instant::now() + timeout;
        let answer = loop {
            let Some(i) = st.asks.iter().position(|a| a.id == id) else {
                break None; // dropped by a lock or a new unlock
            };
            if let Some(a) = st.asks[i].answer {
                st.asks.remove(i);
                break Some(a);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                st.asks.remove(i);
                break None;
            }
            st = self.wait_asked(st, left);
        };
        drop(st);
        let (event, why) = match answer {
            Some(true) => ("confirm", None),
            Some(false) => ("deny", Some("refused at the console")),
            None => ("deny", Some("no answer in time")),
        };
        let mut e = Event::now(event, peer).names(names.iter().cloned());
        e.route = Some(
            if action == "replace" {
                "/secrets/add"
            } else {
                "/session/env"
            }
            .into(),
        );
        e.why = why.map(str::to_string);
        audit::record(&self.inner.home, &e);
        match why {
            None => Ok(()),
            Some(w) => Err(SessionError::Refused(w)),
        }
    }

    /// Adds (or replaces) a secret in the vault at `loc` with the held identity, so `secrets
    /// add` works while unlocked without resolving the identity again (a passphrase identity
    /// with no terminal, issue 15). The new value is known at once for redaction and scans.
    /// A non-empty `policy.allow` sets the secret's scope ([`secrets::vault::set_scope`]);
    /// `policy.canary` marks it a canary ([`secrets::vault::set_canary`]).
    /// Errors: [`SessionError::Locked`]; a vault error as [`SessionError::Vault`] (one line,
    /// naming the file or the rule, never the value).
    pub fn add_secret(
        &self,
        loc: &secrets::VaultLocation,
        name: &str,
        env: Option<&str>,
        value: secrets::SecretValue,
        policy: AddPolicy<'_>,
        peer: Peer,
    ) -> Result<secrets::vault::Added, SessionError> {
        let AddPolicy {
            allow,
            canary,
            replace,
            keep_trust,
        } = policy;
        let home = &self.inner.home;
        if replace {
            // An agent with the session must not swap a value the user's command trusts
            // (QA session 9, H3): under --confirm the console decides.
            self.confirm_ask(&[name.to_string()], peer, "replace")?;
        }
        let event = |a: &secrets::vault::Added| if a.replaced { "replace" } else { "add" };
        self.change_vault(loc, name, event, peer, |identity| {
            let trusted_before = match loc {
                secrets::VaultLocation::Project(p) => matches!(
                    secrets::trust::check(home, p, identity)?,
                    secrets::trust::Trust::NoVault | secrets::trust::Trust::Trusted
                ),
                secrets::VaultLocation::Global => false,
            };
            let added = secrets::vault::add(home, loc, identity, name, env, value, replace)?;
            if !allow.is_empty() {
                secrets::vault::set_scope(home, loc, identity, name, allow)?;
            }
            if canary {
                secrets::vault::set_canary(home, loc, identity, name, true)?;
            }
            if let (secrets::VaultLocation::Project(p), true) = (loc, keep_trust && trusted_before)
            {
                secrets::trust::record(home, p, identity)?;
            }
            Ok(added)
        })
    }

    /// Removes secret `name` from the vault at `loc` with the identity the unlocked session
    /// holds, so `secrets remove` needs no identity of its own while a session is unlocked
    /// (as [`Session::add_secret`]). The values held are refreshed from the vault; audited by
    /// name. Errors: [`SessionError::Locked`]; a vault error as [`SessionError::Vault`]
    /// ([`secrets::vault::NotFound`] when the vault has no such name).
    pub fn remove_secret(
        &self,
        loc: &secrets::VaultLocation,
        name: &str,
        peer: Peer,
    ) -> Result<(), SessionError> {
        let home = &self.inner.home;
        self.change_vault(
            loc,
            name,
            |_| "remove",
            peer,
            |identity| secrets::vault::remove(home, loc, identity, name),
        )
    }

    /// Runs `change` on the vault at `loc` with a copy of the held identity (dropped after
    /// it), then refreshes the values held from that vault and audits `event` for `name`:
    /// what [`Session::add_secret`] and [`Session::remove_secret`] share.
    fn change_vault<R>(
        &self,
        loc: &secrets::VaultLocation,
        name: &str,
        event: impl FnOnce(&R) -> &'static str,
        peer: Peer,
        change: impl FnOnce(&Identity) -> secrets::Result<R>,
    ) -> Result<R, SessionError> {
        let identity = {
            let mut st = self.state();
            expire_if_due(&self.inner.home, &mut st);
            match &st.unlocked {
                Some(u) => u.identity.clone(),
                None => return Err(SessionError::Locked),
            }
        };
        let out = change(&identity).map_err(SessionError::Vault)?;
        drop(identity);
        match loc {
            secrets::VaultLocation::Global => self.absorb_changed_global_vault(),
            secrets::VaultLocation::Project(p) => self.absorb_project(p),
        }
        audit::record(
            &self.inner.home,
            &Event::now(event(&out), peer).names(vec![name.to_string()]),
        );
        Ok(out)
    }

    /// Wipes everything held (the values and the scan hold). Returns whether anything was.
    /// `by_user`: the lock was asked by the patina binary (`patina session lock`), which
    /// also ends the hold marker; a lock asked by any other process (`curl`, a script) wipes
    /// the same but leaves the marker until its expiry, so the guard hook keeps failing
    /// closed (QA session 9, H2 a; `guard::marker`).
    pub fn lock(&self, peer: Peer, by_user: bool) -> bool {
        let was = {
            let mut st = self.state();
            let was = st.unlocked.take().is_some() | st.hold.take().is_some();
            refuse_all(&mut st);
            self.inner.wake.notify_all();
            self.inner.asked.notify_all();
            was
        };
        if by_user {
            crate::guard::marker::remove(&self.inner.home);
        } else {
            crate::guard::marker::note_end(
                &self.inner.home,
                &format!(
                    "the session was locked by a process that is not patina (pid {})",
                    peer.map_or_else(|| "?".to_string(), |p| p.to_string())
                ),
            );
        }
        if was {
            audit::record(&self.inner.home, &Event::now("lock", peer));
        }
        was
    }

    /// Whether a tripwire alert is pending (tripped in this daemon or recorded by an earlier
    /// one, whatever became of `~/.patina/alert.json`, until `session unlock --ack-canary`):
    /// scry then withholds its answers and the guard everything (threat model,
    /// "Tripwires"). A flag and one file lookup, no lock taken.
    pub fn tripped(&self) -> bool {
        self.inner.tripped.load(std::sync::atomic::Ordering::SeqCst)
            || tripwire::pending(&self.inner.home).is_some()
    }

    /// The user asked the daemon to stop through the patina binary (`patina stop`): the
    /// coming [`Session::shutdown`] ends the hold marker. Without it (a signal, a crash)
    /// the marker stays until its expiry (QA session 9, H2 b).
    pub fn stop_by_user(&self) {
        self.inner
            .user_stop
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The status (no names, no values). An expired unlock reads as locked even if the
    /// timer has not run yet.
    pub fn status(&self) -> Status {
        let mut st = self.state();
        expire_if_due(&self.inner.home, &mut st);
        let mut status = status_of(&st);
        drop(st);
        status.tripped = self.tripped();
        status
    }

    /// The environment for `secrets run` in `project`: decrypts the vaults with the held
    /// identity (so a secret added since the unlock is included) and records the release.
    ///
    /// With `program` (the first word of the command `secrets run` starts), only the secrets
    /// whose scope allows it are released ([`secrets::scope_allows`]); the session still
    /// knows every value, for redaction.
    pub fn env(
        &self,
        project: Option<&Path>,
        peer: Peer,
        program: Option<&str>,
    ) -> Result<EnvMap, SessionError> {
        let identity = {
            let mut st = self.state();
            expire_if_due(&self.inner.home, &mut st);
            match &st.unlocked {
                Some(u) => u.identity.clone(),
                None if tripwire::pending(&self.inner.home).is_some() => {
                    return Err(SessionError::Tripped("the session was locked".into()));
                }
                None => return Err(SessionError::Locked),
            }
        };
        // A project vault releases nothing until the user trusted it (QA session 9, H4).
        if let Some(p) = project {
            secrets::trust::require(&self.inner.home, p, &identity).map_err(SessionError::Vault)?;
        }
        let env = self.decrypt(&identity, project)?;
        drop(identity);
        let every = copy_env(&env);
        let env = match env.release_for(program) {
            Ok(env) => env,
            Err(canaries) => {
                // A canary is never released: refuse the whole release, lock, alert.
                self.trip(TripKind::Canary, canaries, "/session/env", peer);
                return Err(SessionError::Tripped(
                    "a canary secret was asked for".into(),
                ));
            }
        };
        // A variable that changes how programs run is never released (QA session 9, H3),
        // and a project vault changed while it was read is refused like an untrusted one.
        env.refuse_dangerous().map_err(SessionError::Vault)?;
        if let Some(p) = project {
            let identity = match &self.state().unlocked {
                Some(u) => u.identity.clone(),
                None => return Err(SessionError::Locked),
            };
            secrets::trust::require(&self.inner.home, p, &identity).map_err(SessionError::Vault)?;
        }
        let names: Vec<String> = env.entries().iter().map(|e| e.name.clone()).collect();
        self.confirm_release(&names, peer)?;
        {
            let mut st = self.state();
            let Some(u) = st.unlocked.as_mut() else {
                return Err(SessionError::Locked); // locked meanwhile: release nothing
            };
            absorb(u, &self.inner.home, project, every);
            refresh_hold(&mut st);
        }
        audit::record(&self.inner.home, &Event::now("release", peer).names(names));
        Ok(env)
    }

    /// Also holds the values of `project`'s vault, for redaction only: nothing is handed out
    /// and nothing is audited as released. The daemon calls it at every unlock with its own
    /// project (whose notes scry shows), whichever project the unlock named. Does nothing
    /// when locked, or when the vault cannot be read with the session's identity (the unlock
    /// itself already reported that for the project it named).
    pub fn absorb_project(&self, project: &Path) {
        let identity = {
            let mut st = self.state();
            expire_if_due(&self.inner.home, &mut st);
            match &st.unlocked {
                Some(u) => u.identity.clone(),
                None => return,
            }
        };
        if let Ok(env) = self.decrypt(&identity, Some(project)) {
            let mut st = self.state();
            if let Some(u) = st.unlocked.as_mut() {
                absorb(u, &self.inner.home, Some(project), env);
                refresh_hold(&mut st);
            }
        }
    }

    /// Runs `f` with the values known to the session (empty when locked), without copying
    /// them out of it. For scans and scry redaction.
    pub fn with_known<R>(&self, f: impl FnOnce(&[Known<'_>]) -> R) -> R {
        self.absorb_changed_global_vault();
        let mut st = self.state();
        expire_if_due(&self.inner.home, &mut st);
        let known: Vec<Known<'_>> = st
            .unlocked
            .as_ref()
            .map(|u| {
                u.known
                    .iter()
                    .map(|(n, v)| Known {
                        name: n,
                        value: v.as_bytes(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        f(&known)
    }

    /// While unlocked, re-reads the global vault when its file changed since the values were
    /// last absorbed (a `secrets add` after the unlock), so redaction and scan know every
    /// current value. Errors leave the known set as it was.
    fn absorb_changed_global_vault(&self) {
        use std::os::unix::fs::MetadataExt;
        // Locked: nothing to refresh, and no stat(2) on every request.
        if self.state().unlocked.is_none() {
            return;
        }
        let now = std::fs::metadata(self.inner.home.vault_path())
            .ok()
            .map(|m| (m.ino(), m.mtime(), m.mtime_nsec()));
        let identity = {
            let mut st = self.state();
            expire_if_due(&self.inner.home, &mut st);
            match st.unlocked.as_mut() {
                Some(u) if u.global_stamp != now => {
                    u.global_stamp = now;
                    u.identity.clone()
                }
                _ => return,
            }
        };
        if let Ok(env) = self.decrypt(&identity, None) {
            let mut st = self.state();
            if let Some(u) = st.unlocked.as_mut() {
                absorb(u, &self.inner.home, None, env);
                refresh_hold(&mut st);
            }
        }
    }

    /// Runs `f` over the scan hold, `None` when there is none (never unlocked, locked, or
    /// past its time). While a full unlock runs, a vault changed on disk is absorbed first.
    /// The hold answers names and offsets only ([`crate::guard::hold`]).
    pub fn with_hold<R>(&self, f: impl FnOnce(Option<&Hold>) -> R) -> R {
        self.absorb_changed_global_vault();
        let mut st = self.state();
        expire_if_due(&self.inner.home, &mut st);
        f(st.hold.as_ref().map(|h| &h.hold))
    }

    /// For scry's redaction and the guard's scan, whether values are held in clear or not
    /// (one rule in both states: threat model, "One set of forms"): runs `f` over the scan
    /// hold and the hold of the values' pieces ([`Hold::pieces`]); `None` when there is no
    /// hold. While a full unlock runs, a vault changed on disk is absorbed first.
    pub fn with_redaction_hold<R>(&self, f: impl FnOnce(Option<(&Hold, &Hold)>) -> R) -> R {
        self.absorb_changed_global_vault();
        let mut st = self.state();
        expire_if_due(&self.inner.home, &mut st);
        f(st.hold.as_ref().map(|h| (&h.hold, &h.pieces)))
    }

    /// The scan hold's matches in `text`, or `None` without a hold. What it found is told to
    /// the tripwires ([`Session::observe`]) as asked by `peer` through `route`.
    pub fn scan_hold(&self, text: &[u8], route: &str, peer: Peer) -> Option<Vec<Hit>> {
        let hits = self.with_hold(|h| h.map(|h| h.scan(text)))?;
        let names: Vec<&str> = hits.iter().map(|h| h.name.as_str()).collect();
        self.observe(&names, route, peer);
        Some(hits)
    }

    /// The names of the known values the scan hold finds in `texts` (whole forms), for the
    /// tripwires of a route that redacts by other means (scry). Empty without a hold.
    pub fn held_names(&self, texts: &[&[u8]]) -> Vec<String> {
        self.with_hold(|h| {
            let Some(h) = h else { return Vec::new() };
            let mut names: Vec<String> = texts
                .iter()
                .flat_map(|t| h.scan(t))
                .map(|hit| hit.name)
                .collect();
            names.sort();
            names.dedup();
            names
        })
    }

    /// Wipes everything and stops the timer (also done on drop). Audited as `shutdown` when
    /// something was held. The hold marker ends only after [`Session::stop_by_user`].
    pub fn shutdown(&self) {
        let was = {
            let mut st = self.state();
            st.stopping = true;
            let was = st.unlocked.take().is_some() | st.hold.take().is_some();
            self.inner.wake.notify_all();
            was
        };
        if self
            .inner
            .user_stop
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            crate::guard::marker::remove(&self.inner.home);
        } else {
            crate::guard::marker::note_end(
                &self.inner.home,
                "the daemon stopped without `patina stop` (a signal)",
            );
        }
        if was {
            audit::record(&self.inner.home, &Event::now("shutdown", None));
        }
        let timer = self.timer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = timer {
            let _ = t.join();
        }
    }

    fn decrypt(&self, identity: &Identity, project: Option<&Path>) -> Result<EnvMap, SessionError> {
        secrets::env_map(&self.inner.home, project, identity).map_err(SessionError::Vault)
    }
}

/// The state of a poisoned lock, wiped (the poisoned-lock policy; see [`Session::state`]):
/// no identity, no values, no hold, no pending release.
fn wiped(mut st: MutexGuard<'_, State>) -> MutexGuard<'_, State> {
    st.unlocked = None;
    st.hold = None;
    refuse_all(&mut st);
    st
}

/// Drops every pending release (each is refused: its waiter finds it gone).
fn refuse_all(st: &mut State) {
    st.asks.clear();
}

/// What the console shows for a release to `peer`: the requesting process (pid, command
/// line, working directory) and its parent chain (up to 6 ancestors), the secret names, and
/// the seconds left to answer. Read from `/proc`; the command line is the requester's own
/// (`patina secrets run -- CMD …`), so it names the command. Never a value.
fn release_request(
    names: &[String],
    peer: Peer,
    timeout: Duration,
    action: &str,
) -> serde_json::Value {
    fn cmdline(pid: u32) -> String {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                b.split(|&c| c == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    }
    let cwd = peer
        .and_then(|p| std::fs::read_link(format!("/proc/{p}/cwd")).ok())
        .map(|p| p.display().to_string());
    let mut parents = Vec::new();
    let mut at = peer.and_then(crate::auth::parent_pid);
    while let Some(p) = at.filter(|&p| p > 1 && parents.len() < 6) {
        parents.push(serde_json::json!({"pid": p, "command": cmdline(p)}));
        at = crate::auth::parent_pid(p);
    }
    serde_json::json!({
        "pid": peer,
        "command": peer.map(cmdline),
        "cwd": cwd,
        "parents": parents,
        "names": names,
        "action": action,
        "timeout_secs": timeout.as_secs(),
    })
}

impl Drop for Session {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A copy of every value of `env` (each its own zeroizing buffer).
fn copy_env(env: &EnvMap) -> EnvMap {
    EnvMap::from_entries(
        env.entries()
            .iter()
            .map(|e| secrets::EnvEntry {
                name: e.name.clone(),
                env: e.env.clone(),
                vault: e.vault,
                scope: e.scope.clone(),
                canary: e.canary,
                value: SecretValue::from_string(e.value.expose().to_string()),
            })
            .collect(),
    )
}

/// The hold of everything `u` knows.
/// The scan hold of `u`'s values, and the hold of their pieces.
fn hold_of(u: &Unlocked) -> (Hold, Hold) {
    let values = || u.known.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
    (Hold::new(values()), Hold::pieces(values()))
}

/// Rebuilds the scan hold from the values known now (keeping its expiry), after `absorb`.
fn refresh_hold(st: &mut State) {
    let Some(u) = st.unlocked.as_ref() else {
        return;
    };
    let (hold, pieces) = hold_of(u);
    let canaries = u.canaries.clone();
    if let Some(h) = st.hold.as_mut() {
        h.hold = hold;
        h.pieces = pieces;
        h.canaries = canaries;
    }
}

/// Adds the vaults and values of `env` to `u` (the global one, and `project`'s when it has a
/// vault); returns the names.
fn absorb(u: &mut Unlocked, home: &Home, project: Option<&Path>, env: EnvMap) -> Vec<String> {
    let mut dirs = vec![VaultRef {
        kind: "global".into(),
        path: home.root().display().to_string(),
    }];
    // A project with no vault of its own (no `vault.age`, no `secrets.toml`) is not listed.
    let has_vault = |p: &Path| {
        let loc = secrets::VaultLocation::Project(p.to_path_buf());
        loc.vault_path(home).exists() || loc.map_path(home).exists()
    };
    if let Some(p) = project.filter(|p| has_vault(p)) {
        dirs.push(VaultRef {
            kind: "project".into(),
            path: crate::paths::project_state_dir(p).display().to_string(),
        });
    }
    for d in dirs {
        if !u.vaults.contains(&d) {
            u.vaults.push(d);
        }
    }
    let mut names = Vec::new();
    for e in env.into_entries() {
        names.push(e.name.clone());
        if e.canary {
            u.canaries.insert(e.name.clone());
        }
        // Every value stays known until the session ends, also when another vault holds a
        // secret of the same name (a project's `TOKEN` beside the global one) or a value was
        // replaced: either may still be written somewhere scry shows.
        if !u
            .known
            .iter()
            .any(|(n, v)| *n == e.name && v.as_bytes() == e.value.as_bytes())
        {
            u.known.push((e.name, e.value));
        }
    }
    names
}

fn status_of(st: &State) -> Status {
    let hold_expires_in_secs = st.hold.as_ref().map_or(0, |h| {
        h.expires
            .saturating_duration_since(Instant::now())
            .as_secs_f64()
            .ceil() as u64
    });
    let mut status = match &st.unlocked {
        Some(u) => Status {
            unlocked: true,
            expires_in_secs: u
                .expires
                .saturating_duration_since(Instant::now())
                .as_secs_f64()
                .ceil() as u64,
            vaults: u.vaults.clone(),
            hold_expires_in_secs: 0,
            tripped: false,
        },
        None => Status {
            unlocked: false,
            expires_in_secs: 0,
            vaults: Vec::new(),
            hold_expires_in_secs: 0,
            tripped: false,
        },
    };
    status.hold_expires_in_secs = hold_expires_in_secs;
    status
}

/// Wipes an unlock whose time is up (audited as `expire`), and a scan hold whose time is up
/// (audited as `hold-expire`).
fn expire_if_due(home: &Home, st: &mut State) {
    if st
        .hold
        .as_ref()
        .is_some_and(|h| Instant::now() >= h.expires)
    {
        st.hold = None;
        crate::guard::marker::remove(home);
        audit::record(home, &Event::now("hold-expire", None));
    }
    if st
        .unlocked
        .as_ref()
        .is_some_and(|u| Instant::now() >= u.expires)
    {
        st.unlocked = None;
        audit::record(home, &Event::now("expire", None));
    }
}

/// The timer thread: sleeps until the current unlock's expiry (or until woken by an unlock,
/// a lock or shutdown) and wipes it when due.
fn expiry_loop(inner: &Inner) {
    let mut st = inner.state.lock().unwrap_or_else(|p| wiped(p.into_inner()));
    loop {
        if st.stopping {
            return;
        }
        expire_if_due(&inner.home, &mut st);
        let next = [
            st.unlocked.as_ref().map(|u| u.expires),
            st.hold.as_ref().map(|h| h.expires),
        ]
        .into_iter()
        .flatten()
        .min();
        let wait = next.map(|t| t.saturating_duration_since(Instant::now()));
        st = match wait {
            Some(d) => {
                inner
                    .wake
                    .wait_timeout(st, d + Duration::from_millis(1))
                    .unwrap_or_else(|p| {
                        let (st, t) = p.into_inner();
                        (wiped(st), t)
                    })
                    .0
            }
            None => inner
                .wake
                .wait(st)
                .unwrap_or_else(|p| wiped(p.into_inner())),
        };
    }
}

/// Parses a TTL as the CLI takes it: a number with an optional unit `s`, `m` or `h`
/// (`90`, `90s`, `10m`, `2h`). Errors for anything else, for 0, and past [`MAX_TTL`].
pub fn parse_ttl(s: &str) -> Result<Duration, SessionError> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        _ => (s, 1),
    };
    let n: u64 = match num.parse() {
        Ok(n) => n,
        // All digits but too large for a number: a duration, just far too long.
        Err(_) if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(SessionError::BadTtl);
        }
        Err(_) => return Err(SessionError::TtlSyntax),
    };
    let secs = n.checked_mul(mult).ok_or(SessionError::BadTtl)?;
    let d = Duration::from_secs(secs);
    if d.is_zero() || d > MAX_TTL {
        return Err(SessionError::BadTtl);
    }
    Ok(d)
}

/// The absolute, canonical project directory a request names, if it is a directory.
pub fn project_path(asked: &str) -> Option<PathBuf> {
    let p = Path::new(asked);
    if !p.is_absolute() {
        return None;
    }
    std::fs::canonicalize(p).ok().filter(|p| p.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_parsing_has_bounds() {
        assert_eq!(parse_ttl("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_ttl("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_ttl("2h").unwrap(), Duration::from_secs(7200));
        for bad in ["0", "13h", "99999999999999999999h", "99999999999999999999"] {
            assert!(matches!(parse_ttl(bad), Err(SessionError::BadTtl)), "{bad}");
        }
        for bad in ["", "m", "-5", "1d", "ten", "1.5h", "10 m"] {
            assert!(
                matches!(parse_ttl(bad), Err(SessionError::TtlSyntax)),
                "{bad}"
            );
        }
        assert!(
            SessionError::TtlSyntax
                .to_string()
                .contains("not a duration")
        );
    }

    #[test]
    fn a_value_stays_known_when_another_vault_has_a_secret_of_the_same_name() {
        let t = tempfile::tempdir().unwrap();
        let home = Home::at(t.path().to_path_buf());
        let mut u = Unlocked {
            identity: Identity::generate(),
            expires: Instant::now() + Duration::from_secs(60),
            vaults: Vec::new(),
            known: Vec::new(),
            global_stamp: None,
            confirm: None,
            canaries: BTreeSet::new(),
        };
        // Run-time values, never literals.
        let value = |tag: &str| {
            let v = format!("{tag}-{}", std::process::id());
            SecretValue::from_bytes(zeroize::Zeroizing::new(v.into_bytes())).unwrap()
        };
        let entry = |vault: &'static str, tag: &str| secrets::EnvEntry {
            name: "TOKEN".into(),
            env: "TOKEN".into(),
            vault,
            scope: Vec::new(),
            canary: false,
            value: value(tag),
        };
        let held = |u: &Unlocked| {
            let mut v: Vec<Vec<u8>> = u.known.iter().map(|(_, v)| v.as_bytes().to_vec()).collect();
            v.sort();
            v
        };
        absorb(
            &mut u,
            &home,
            None,
            EnvMap::from_entries(vec![entry("global", "g")]),
        );
        let project = t.path().join("p");
        let both = EnvMap::from_entries(vec![entry("global", "g"), entry("project", "p")]);
        absorb(&mut u, &home, Some(&project), both);
        // The global vault read again (it changed on disk) keeps the project's value too.
        absorb(
            &mut u,
            &home,
            None,
            EnvMap::from_entries(vec![entry("global", "g")]),
        );
        assert_eq!(
            held(&u),
            vec![
                value("g").as_bytes().to_vec(),
                value("p").as_bytes().to_vec()
            ]
        );
    }

    /// A global vault in `home` holding a canary `bait` (no scope) and an ordinary `ok`.
    fn canary_vault(home: &Home, id: &Identity) {
        let v = |s: &str| SecretValue::from_bytes(Zeroizing::new(s.as_bytes().to_vec())).unwrap();
        let g = secrets::VaultLocation::Global;
        let bait = format!("bait-{}-Xq7Lm2Zp9", std::process::id());
        secrets::vault::add(home, &g, id, "bait", None, v(&bait), false).unwrap();
        secrets::vault::set_canary(home, &g, id, "bait", true).unwrap();
        secrets::vault::add(home, &g, id, "ok", None, v("ordinary-Vb8Kx4Mn6Rp1"), false).unwrap();
    }

    #[test]
    fn a_raw_release_of_everything_reaches_the_canary_and_trips() {
        let t = tempfile::tempdir().unwrap();
        let home = Home::at(t.path().join("home"));
        let id = Identity::generate();
        canary_vault(&home, &id);
        let s = Session::new(home.clone());
        let text = id.expose_secret_text();
        s.unlock(text.as_bytes(), None, None, Some(std::process::id()))
            .unwrap();
        // `secrets run` names its program: a canary without a scope is left out silently.
        let env = s.env(None, None, Some("make")).unwrap();
        let names: Vec<&str> = env.entries().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["ok"]);
        assert!(tripwire::pending(&home).is_none());
        // A `POST /session/env` without a program asks for every secret: refused, locked.
        let e = s.env(None, Some(std::process::id()), None).unwrap_err();
        assert!(matches!(e, SessionError::Tripped(_)), "{e}");
        let st = s.status();
        assert!(!st.unlocked && st.tripped && st.hold_expires_in_secs == 0);
        let alert = tripwire::pending(&home).unwrap().unwrap();
        assert_eq!(alert.names, ["bait"]);
        assert_eq!(alert.route, "/session/env");
        assert_eq!(alert.chain[0].pid, std::process::id());
        // Unlock refuses until acknowledged.
        assert!(matches!(
            s.unlock(text.as_bytes(), None, None, None),
            Err(SessionError::Tripped(_))
        ));
        let opts = UnlockOptions {
            ack_canary: true,
            ..UnlockOptions::default()
        };
        s.unlock_with(text.as_bytes(), None, None, None, opts)
            .unwrap();
        assert!(tripwire::pending(&home).is_none());
    }

    #[test]
    fn the_confirmation_console_gets_the_alert() {
        let t = tempfile::tempdir().unwrap();
        let home = Home::at(t.path().join("home"));
        let id = Identity::generate();
        canary_vault(&home, &id);
        let s = Session::new(home.clone());
        let text = id.expose_secret_text();
        let opts = UnlockOptions {
            confirm: Some(Duration::from_secs(5)),
            ..UnlockOptions::default()
        };
        let (_, token) = s
            .unlock_with(text.as_bytes(), None, None, None, opts)
            .unwrap();
        let token = token.unwrap();
        s.observe(&["bait"], "/guard/scan", None);
        match s.next_ask(&token, Duration::from_millis(10)) {
            Err(SessionError::Tripped(m)) => {
                assert!(
                    m.contains("canary secret bait") && m.contains("/guard/scan"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            tripwire::pending(&home).unwrap().unwrap().delivered,
            "console"
        );
    }

    #[test]
    fn unlock_expires_by_itself_and_lock_wipes() {
        let t = tempfile::tempdir().unwrap();
        let home = Home::at(t.path().to_path_buf());
        let s = Session::new(home.clone());
        assert!(!s.status().unlocked);
        let id = Identity::generate();
        let text = id.expose_secret_text();
        let st = s
            .unlock(
                text.as_bytes(),
                Some(Duration::from_millis(300)),
                None,
                None,
            )
            .unwrap();
        assert!(st.unlocked);
        // The timer wipes without any call.
        std::thread::sleep(Duration::from_millis(900));
        assert!(s.inner.state.lock().unwrap().unlocked.is_none());
        assert!(matches!(s.env(None, None, None), Err(SessionError::Locked)));
        s.unlock(text.as_bytes(), None, None, None).unwrap();
        assert!(s.lock(None, true));
        assert!(!s.status().unlocked);
        let events: Vec<String> = audit::read(&home)
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .collect();
        assert_eq!(events, ["unlock", "expire", "unlock", "lock"]);
        assert!(s.unlock(b"not an identity", None, None, None).is_err());
        assert!(matches!(
            s.unlock(
                text.as_bytes(),
                Some(MAX_TTL + Duration::from_secs(1)),
                None,
                None
            ),
            Err(SessionError::BadTtl)
        ));
    }
}
