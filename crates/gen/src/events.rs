//! The event stream: who does what, when; rendered to `serde_json::Value` in the public ingest wire shape.
//!
//! The stream keeps only counters (events emitted, users signed up, the current session's
//! user) and one PRNG, so memory is constant in the number of events. Users sign up on a
//! schedule that front-loads arrivals (`users * sqrt(progress)`) and is proven to fit every
//! user into the stream whenever `users <= events` (see the private `EventStream::signup_due`).

use serde_json::{Map, Value, json};

use crate::clock::{self, Clock};
use crate::queries;
use crate::rng::{self, Rng};
use crate::tracks::Catalog;
use crate::users::{Device, User, user};
use crate::{CanaryConfig, GenConfig};

/// Share of non-signup events by kind, in per-mille: play, skip, like, search.
/// (Roughly 70/15/7/7 as in real listening logs; play takes the remainder.)
const MIX_PER_MILLE: [u64; 4] = [710, 150, 70, 70];
/// Chance that an event continues the previous event's user: listening comes in sessions.
const SESSION_CONTINUE: f64 = 0.5;
/// Chance the event comes from the user's usual device.
const PRIMARY_DEVICE: f64 = 0.8;

/// Event type, as spelled on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Signup,
    Play,
    Skip,
    Like,
    Search,
}

impl EventKind {
    /// All kinds, in schema order.
    pub const ALL: [EventKind; 5] = [
        EventKind::Signup,
        EventKind::Play,
        EventKind::Skip,
        EventKind::Like,
        EventKind::Search,
    ];

    /// Wire spelling (`type` field and schema name).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Signup => "signup",
            EventKind::Play => "play",
            EventKind::Skip => "skip",
            EventKind::Like => "like",
            EventKind::Search => "search",
        }
    }
}

/// Per-type properties; strings are owned so an [`Event`] outlives the stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Props {
    Signup {
        email: String,
        name: String,
        ip: String,
        country: &'static str,
        birth_year: i32,
        plan: &'static str,
    },
    Play {
        track: u64,
        genre: &'static str,
        ms_played: u32,
        device: Device,
        ip: String,
    },
    Skip {
        track: u64,
        genre: &'static str,
        ms_played: u32,
        device: Device,
    },
    Like {
        track: u64,
        genre: &'static str,
    },
    Search {
        query: String,
        device: Device,
    },
}

/// One generated event, before rendering.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Position in the stream; the event id is `e-{seed}-{n}`.
    pub n: u64,
    pub seed: u64,
    /// Index of the acting user (handy for tests that erase a known user).
    pub user: u64,
    /// The user's external id (the wire `subject`).
    pub subject: String,
    /// Unix seconds (UTC).
    pub time: i64,
    pub props: Props,
}

impl Event {
    /// The wire `type`.
    pub fn kind(&self) -> EventKind {
        match self.props {
            Props::Signup { .. } => EventKind::Signup,
            Props::Play { .. } => EventKind::Play,
            Props::Skip { .. } => EventKind::Skip,
            Props::Like { .. } => EventKind::Like,
            Props::Search { .. } => EventKind::Search,
        }
    }

    /// The wire `event_id`: unique per seed, so re-sending a file is detectably a replay.
    pub fn event_id(&self) -> String {
        format!("e-{}-{}", self.seed, self.n)
    }

    /// The event in the public ingest wire shape.
    pub fn to_value(&self) -> Value {
        let mut p = Map::new();
        match &self.props {
            Props::Signup {
                email,
                name,
                ip,
                country,
                birth_year,
                plan,
            } => {
                p.insert("email".into(), json!(email));
                p.insert("name".into(), json!(name));
                p.insert("ip".into(), json!(ip));
                p.insert("country".into(), json!(country));
                p.insert("birth_year".into(), json!(birth_year));
                p.insert("plan".into(), json!(plan));
            }
            Props::Play {
                track,
                genre,
                ms_played,
                device,
                ip,
            } => {
                p.insert("track_id".into(), json!(format!("trk_{track}")));
                p.insert("genre".into(), json!(genre));
                p.insert("ms_played".into(), json!(ms_played));
                p.insert("device".into(), json!(device.as_str()));
                p.insert("ip".into(), json!(ip));
            }
            Props::Skip {
                track,
                genre,
                ms_played,
                device,
            } => {
                p.insert("track_id".into(), json!(format!("trk_{track}")));
                p.insert("genre".into(), json!(genre));
                p.insert("ms_played".into(), json!(ms_played));
                p.insert("device".into(), json!(device.as_str()));
            }
            Props::Like { track, genre } => {
                p.insert("track_id".into(), json!(format!("trk_{track}")));
                p.insert("genre".into(), json!(genre));
            }
            Props::Search { query, device } => {
                p.insert("query".into(), json!(query));
                p.insert("device".into(), json!(device.as_str()));
            }
        }
        json!({
            "event_id": self.event_id(),
            "type": self.kind().as_str(),
            "subject": self.subject,
            "time": clock::rfc3339(self.time),
            "properties": Value::Object(p),
        })
    }
}

/// Events as wire-shape JSON values, in stream order.
pub fn events(config: &GenConfig) -> impl Iterator<Item = Value> + use<> {
    EventStream::new(config).map(|e| e.to_value())
}

/// Events as [`Event`]s, for callers that want the user index or their own rendering.
pub fn raw_events(config: &GenConfig) -> EventStream {
    EventStream::new(config)
}

/// The generator state. Iterating yields exactly `config.events` events.
#[derive(Clone, Debug)]
pub struct EventStream {
    seed: u64,
    total: u64,
    users: u64,
    canary: Option<CanaryConfig>,
    catalog: Catalog,
    clock: Clock,
    rng: Rng,
    n: u64,
    signed_up: u64,
    /// The previous event's user, for session continuation.
    current: Option<u64>,
}

impl EventStream {
    /// A fresh stream for `config`.
    pub fn new(config: &GenConfig) -> Self {
        EventStream {
            seed: config.seed,
            total: config.events,
            users: config.users.max(1),
            canary: config.canary.clone(),
            catalog: Catalog::new(config.seed, config.tracks),
            clock: Clock::new(config.start.timestamp(), config.span_days, config.events),
            rng: Rng::derive(config.seed, rng::domain::EVENTS, 0),
            n: 0,
            signed_up: 0,
            current: None,
        }
    }

    /// The catalog the stream draws tracks from.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Whether event `n` must be the next user's signup: when fewer than
    /// `target(n) = ceil(users * sqrt((n+1)/events))` users have signed up.
    ///
    /// Why every user fits when `users <= events`: `target(n) >= users*(n+1)/events`. If
    /// the last event with no signup due was `m`, then signed-up at `m` is at least
    /// `target(m)`, and every later event is a signup, so at the end the count is at least
    /// `users*(m+1)/events + (events-1-m) >= users`.
    fn signup_due(&self) -> bool {
        if self.signed_up >= self.users {
            return false;
        }
        let progress = (self.n + 1) as f64 / self.total.max(1) as f64;
        let target = (self.users as f64 * progress.sqrt()).ceil() as u64;
        self.signed_up < target.min(self.users)
    }

    fn user(&self, index: u64) -> User {
        user(self.seed, index, self.canary.as_ref())
    }

    /// The acting user for a non-signup event: often the previous one (sessions), else one
    /// of the signed-up users, early sign-ups more active (`u^1.6` skews toward index 0).
    fn pick_user(&mut self) -> u64 {
        if let Some(cur) = self.current
            && self.rng.chance(SESSION_CONTINUE)
        {
            return cur;
        }
        let u = self.rng.unit().powf(1.6);
        ((u * self.signed_up as f64) as u64).min(self.signed_up - 1)
    }

    fn device(&mut self, u: &User) -> Device {
        if self.rng.chance(PRIMARY_DEVICE) {
            u.device
        } else {
            Device::ALL[self.rng.index(Device::ALL.len())]
        }
    }

    fn signup(&mut self) -> (u64, String, Props) {
        let index = self.signed_up;
        self.signed_up += 1;
        let u = self.user(index);
        let subject = u.email.clone();
        let props = Props::Signup {
            email: u.email,
            name: u.name,
            ip: u.ip,
            country: u.country,
            birth_year: u.birth_year,
            plan: u.plan.as_str(),
        };
        (index, subject, props)
    }

    fn activity(&mut self, u: &User) -> Props {
        let roll = self.rng.below(1000);
        let [_, skip, like, search] = MIX_PER_MILLE;
        if roll < search {
            let query = queries::search_query(&mut self.rng, &self.catalog, u);
            return Props::Search {
                query,
                device: self.device(u),
            };
        }
        let (track, genre) = u.pick_track(&mut self.rng, &self.catalog);
        if roll < search + like {
            return Props::Like { track, genre };
        }
        let duration = u64::from(self.catalog.duration_ms(track));
        let device = self.device(u);
        if roll < search + like + skip {
            // Skips happen in the first half-minute.
            let ms_played = self.rng.range(500, 30_000.min(duration)) as u32;
            return Props::Skip {
                track,
                genre,
                ms_played,
                device,
            };
        }
        let ms_played = if self.rng.chance(0.65) {
            duration
        } else {
            duration * self.rng.range(30, 99) / 100
        } as u32;
        Props::Play {
            track,
            genre,
            ms_played,
            device,
            ip: u.ip.clone(),
        }
    }
}

impl Iterator for EventStream {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if self.n >= self.total {
            return None;
        }
        let n = self.n;
        let time = self.clock.at(n, &mut self.rng);
        let (index, subject, props) = if self.signed_up == 0 || self.signup_due() {
            self.signup()
        } else {
            let index = self.pick_user();
            let u = self.user(index);
            let props = self.activity(&u);
            (index, u.email, props)
        };
        self.current = Some(index);
        self.n += 1;
        Some(Event {
            n,
            seed: self.seed,
            user: index,
            subject,
            time,
            props,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.total - self.n).unwrap_or(usize::MAX);
        (left, usize::try_from(self.total - self.n).ok())
    }
}
