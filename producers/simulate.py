"""Realistic traffic of the Smarty Indonesia marketplace, for demos, tests and benchmarks.

:func:`simulate` (or the streaming :func:`iter_simulation`) generates what the
marketplace's services would emit over ``days`` days for ``users`` users:

* **before the first day**, a short history for existing users (sign-up,
  policy acceptance, cookie, newsletter, device-permission and partner
  choices), so that their consent state is known, and a few accounts closed
  long ago, with their deletions (some late or missing, for retention);
* **every day**: new sign-ups, logins (``log.*``, ``location.ip``, ``device.*``),
  browsing and personalisation, interest-based ads, analytics, orders
  (``transaction.*`` and ``payment.*`` collected, used for fulfilment, disclosed
  to payment processors and logistics providers under C.1), delivery updates
  from partners, reviews (published publicly only with ``public_review``),
  customer-service chats (C.3, C.4 vendors), surveys, newsletters and opt-outs,
  cookie choices, device features behind OS permissions, pay-later with an
  integrated partner (C.2, after ``recipient:`` consent), credit checks (C.7),
  affiliates (C.6), research firms and infrastructure (C.4, C.1), law-enforcement
  and regulator requests (C.8, with a request reference), access and deletion
  requests, account closures and the deletions that follow.

**Injected violations.** About ``violation_rate`` of the collection, use and
disclosure events come with an extra event that breaks the policy (see
:data:`SCENARIOS`). Each such event carries ``trace_id =
"sim-violation:<reason>:<scenario>"``, where ``<reason>`` is the reason code the
policy engine must give as primary (policy-semantics §3), and is listed in
:attr:`Simulation.violations`. Retention problems (a deletion missing or late
for an account closed in the history) are not per-event verdicts: they are
tagged ``sim-violation:retention_overdue:<scenario>`` on the ``account_closed``
event and found by the retention monitor. Every other event has ``trace_id =
"sim:<activity>:<n>"``, and the policy allows (or records) it.

Deterministic for a seed; each subject's events are in time order and the
stream is ordered by ``occurred_at``. Subject ids are pseudonyms of made-up
ids (``smarty-user-0000042``); recipient ids are invented look-alikes
(``pay-xendit-like``, ``jne-logistics``); no real personal data appears.
"""

from __future__ import annotations

import heapq
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from jejak.schemas.models import (
    AccountClosed,
    Collection,
    Consent,
    Deletion,
    Disclosure,
    Event,
    PolicyAccepted,
    ProducerInfo,
    Recipient,
    SubjectRequest,
    Use,
)
from jejak.schemas.pseudonym import Pseudonymizer

WIB = timezone(timedelta(hours=7), "WIB")
"""Western Indonesia Time: the marketplace's day runs on Jakarta time."""
POLICY_VERSION = "2026.1"
POLICY_EFFECTIVE = datetime(2026, 1, 1, tzinfo=WIB)
DEFAULT_START = date(2026, 3, 2)
SIMULATION_KEY = "jejak-simulation-key"
"""HMAC key of the simulated pseudonyms (never a production key)."""
VIOLATION_TAG = "sim-violation:"
ACTIVITY_TAG = "sim:"

CITIES = (
    "jakarta", "surabaya", "bandung", "medan", "semarang", "makassar",
    "palembang", "denpasar", "yogyakarta", "balikpapan", "malang", "pontianak",
)  # fmt: skip
PAYMENT_PROCESSORS = ("pay-xendit-like", "pay-midtrans-like", "pay-doku-like")
LOGISTICS = ("jne-logistics", "jnt-express", "sicepat-ekspres", "anteraja-kurir")
PAYMENT_METHODS = (
    ("payment.virtual_account", 0.35),
    ("payment.instant_payment", 0.30),
    ("payment.credit_card", 0.15),
    ("payment.internet_banking", 0.10),
    ("payment.retail_outlet", 0.10),
)
PAYLATER_PARTNER = "partner-kredivo-like"
PROMOTION_PARTNER = "promo-ewallet-like"
UNCONSENTED_PARTNER = "partner-akulaku-like"
DATA_BROKER = "databroker-nusantara"
AFFILIATE = "smarty-finansial-affiliate"
CREDIT_BUREAU = "lpip-pefindo-like"
VENDOR = "cs-outsourcing-bandung"
RESEARCH_FIRM = "riset-pasar-nusantara"
MARKETING_PARTNER = "agensi-iklan-jkt"
INFRASTRUCTURE = "cloud-infra-jakarta"
LAW_ENFORCEMENT = "polri-siber-like"
REGULATOR = "komdigi-like"

ACTIVITIES = (
    "signup", "login", "fraud_check", "browse", "ads", "analytics", "device_permission",
    "device_feature", "order", "payment", "delivery", "transactional_email", "review",
    "support_chat", "survey", "newsletter", "newsletter_optout", "cookie_choice",
    "partner_consent", "partner_disclosure", "credit_check", "affiliate_share",
    "research_share", "infrastructure", "law_enforcement_request", "regulator_request",
    "access_request", "deletion_request", "account_closure", "deletion",
)  # fmt: skip
"""Every activity a normal event can be tagged with (``sim:<activity>:<n>``)."""

SCENARIOS: dict[str, str] = {
    "data_broker": "disclosure_without_consent",
    "sale_without_consent": "disclosure_without_consent",
    "partner_without_consent": "disclosure_without_consent",
    "credit_card_to_non_processor": "sensitive_category_not_allowed",
    "law_enforcement_without_ref": "legal_request_missing",
    "newsletter_after_optout": "opted_out",
    "ads_after_cookie_optout": "opted_out",
    "analytics_after_optout": "opted_out",
    "geo_without_device_location": "permission_missing",
    "device_access_without_permission": "permission_missing",
    "public_review_without_consent": "consent_missing",
    "use_after_account_closed": "account_closed",
    "use_after_processing_withdrawn": "consent_withdrawn",
}
"""Injected per-event violations: scenario -> the primary reason code the engine must give."""
RETENTION_SCENARIOS: dict[str, str] = {
    "deletion_missing": "retention_overdue",
    "deletion_late": "retention_overdue",
}
"""Injected retention problems, found by the retention monitor (not per event)."""

_TERMINAL = frozenset({"use_after_account_closed", "use_after_processing_withdrawn"})
_PRODUCERS = {
    name: ProducerInfo(service=f"smarty-{name}", version="2026.3.1")
    for name in (
        "auth", "web", "app", "checkout", "payments", "logistics", "reviews", "cs",
        "marketing", "analytics", "risk", "partners", "legal", "privacy", "platform",
    )
}  # fmt: skip
# The hours of a Jakarta day people shop in: quiet nights, a morning commute, lunch and
# a long evening peak after work.
_HOUR_WEIGHTS = (
    1, 0.5, 0.3, 0.2, 0.3, 0.8, 2, 4, 5, 4.5, 4, 4.5,
    6, 5.5, 4.5, 4, 4.5, 5.5, 7, 9, 10, 9, 6, 3,
)  # fmt: skip
_HOURS = tuple(range(24))


@dataclass(frozen=True, slots=True)
class InjectedViolation:
    """One violation the simulator put in on purpose, and what should detect it."""

    event_id: str
    subject_id: str
    reason: str
    """The reason code expected (primary), e.g. ``disclosure_without_consent``."""
    scenario: str
    occurred_at: datetime
    category: str | None = None
    """For retention: the category family left undeleted (or deleted late)."""


@dataclass
class Simulation:
    """A whole simulated period: the events in stream order and what was injected."""

    events: list[Event]
    violations: list[InjectedViolation]
    activities: Counter[str] = field(default_factory=Counter)


def parse_tag(trace_id: str | None) -> tuple[str, str] | None:
    """``(reason, scenario)`` of an injected violation's ``trace_id``, else ``None``."""
    if not trace_id or not trace_id.startswith(VIOLATION_TAG):
        return None
    reason, _, scenario = trace_id[len(VIOLATION_TAG) :].partition(":")
    return reason, scenario


@dataclass
class _User:
    index: int
    subject: str
    rng: random.Random
    platform: str
    city: str
    activity: float
    payment: str
    processor: str
    signed_up: bool = False
    closed: bool = False
    withdrawn_all: bool = False
    newsletter: bool = True
    ads: bool = True
    analytics: bool = True
    cookies_all: bool = True
    public_review: bool = False
    device: dict[str, bool] = field(default_factory=dict)
    partners: set[str] = field(default_factory=set)
    families: set[str] = field(default_factory=set)
    last: datetime | None = None
    seq: int = 0
    terminal: str | None = None

    def active(self) -> bool:
        """Signed up, account open and processing not withdrawn (a method: it changes mid-session)."""
        return self.signed_up and not self.closed and not self.withdrawn_all

    @property
    def mobile(self) -> bool:
        return self.platform != "web"


class _Generator:
    """Builds events; one instance per simulation, state per user."""

    def __init__(
        self, *, users: int, days: int, seed: int, start: date, violation_rate: float
    ) -> None:
        if users < 1 or days < 1:
            raise ValueError("users and days must be at least 1")
        if not 0.0 <= violation_rate <= 1.0:
            raise ValueError("violation_rate must be between 0 and 1")
        self.users_count = users
        self.days = days
        self.seed = seed
        self.start = datetime.combine(start, time(0), WIB)
        self.rate = violation_rate
        self.rng = random.Random(seed)
        self.violations: list[InjectedViolation] = []
        self.activities: Counter[str] = Counter()
        self._scenario_names = tuple(SCENARIOS)
        self._trace = 0
        self._retention_problems = 0
        self._buffer: list[tuple[datetime, int, int, Event]] = []
        pseudonymizer = Pseudonymizer(SIMULATION_KEY)
        self.users: list[_User] = []
        for index in range(users):
            rng = random.Random(seed * 1_000_003 + index)
            self.users.append(
                _User(
                    index=index,
                    subject=str(pseudonymizer.pseudonymize(f"smarty-user-{seed}-{index:07d}")),
                    rng=rng,
                    platform=rng.choices(("android", "ios", "web"), (0.6, 0.25, 0.15))[0],
                    city=rng.choice(CITIES),
                    activity=rng.uniform(0.25, 0.9),
                    payment=rng.choices(
                        [m for m, _ in PAYMENT_METHODS], [w for _, w in PAYMENT_METHODS]
                    )[0],
                    processor=rng.choice(PAYMENT_PROCESSORS),
                )
            )

    # -- plumbing ----------------------------------------------------------------------------

    def _id(self, rng: random.Random) -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def _at(self, user: _User, at: datetime) -> datetime:
        """``at``, or one second after the user's previous event: each subject's time only grows."""
        if user.last is not None and at <= user.last:
            at = user.last + timedelta(seconds=1)
        user.last = at
        return at

    def _put(self, user: _User, event: Event) -> Event:
        user.seq += 1
        self._buffer.append((event.occurred_at, user.index, user.seq, event))
        return event

    def _tag(self, activity: str) -> str:
        self._trace += 1
        self.activities[activity] += 1
        return f"{ACTIVITY_TAG}{activity}:{self._trace:07d}"

    def _common(self, user: _User, at: datetime, producer: str, trace_id: str) -> dict[str, Any]:
        return {
            "event_id": self._id(user.rng),
            "occurred_at": self._at(user, at),
            "subject_id": user.subject,
            "producer": _PRODUCERS[producer],
            "trace_id": trace_id,
        }

    def collect(
        self,
        user: _User,
        at: datetime,
        activity: str,
        categories: list[str],
        source: str,
        *,
        producer: str = "web",
        partner: str | None = None,
        outputs: list[str] | None = None,
        trace_id: str | None = None,
        maybe_violate: bool = True,
    ) -> Event:
        event = self._put(
            user,
            Collection(
                **self._common(user, at, producer, trace_id or self._tag(activity)),
                data_categories=categories,
                source=source,
                source_partner=partner,
                outputs=outputs or [],
            ),
        )
        user.families.update(c.split(".")[0] for c in categories)
        if maybe_violate:
            self._maybe_violate(user, at)
        return event

    def use(
        self,
        user: _User,
        at: datetime,
        activity: str,
        categories: list[str],
        purpose: str,
        *,
        producer: str = "web",
        channel: str | None = None,
        public: bool = False,
        inputs: list[str] | None = None,
        trace_id: str | None = None,
        maybe_violate: bool = True,
    ) -> Event:
        event = self._put(
            user,
            Use(
                **self._common(user, at, producer, trace_id or self._tag(activity)),
                data_categories=categories,
                purpose=purpose,
                channel=channel,
                public=public,
                inputs=inputs or [],
            ),
        )
        if maybe_violate:
            self._maybe_violate(user, at)
        return event

    def disclose(
        self,
        user: _User,
        at: datetime,
        activity: str,
        categories: list[str],
        purpose: str,
        recipient: str,
        kind: str,
        *,
        producer: str = "checkout",
        transfer: str = "share",
        legal_request_ref: str | None = None,
        basis: str | None = None,
        trace_id: str | None = None,
        maybe_violate: bool = True,
    ) -> Event:
        event = self._put(
            user,
            Disclosure(
                **self._common(user, at, producer, trace_id or self._tag(activity)),
                data_categories=categories,
                purpose=purpose,
                recipient=Recipient(id=recipient, kind=kind, country="ID"),
                transfer=transfer,
                legal_request_ref=legal_request_ref,
                basis=basis,
            ),
        )
        if maybe_violate:
            self._maybe_violate(user, at)
        return event

    def consent(self, user: _User, at: datetime, activity: str, scope: str, granted: bool) -> Event:
        return self._put(
            user,
            Consent(
                **self._common(user, at, "privacy", self._tag(activity)),
                scope=scope,
                action="granted" if granted else "withdrawn",
            ),
        )

    # -- sign-up and history ---------------------------------------------------------------

    def signup(self, user: _User, at: datetime) -> datetime:
        rng = user.rng
        user.signed_up = True
        self.collect(
            user, at, "signup",
            ["account.username", "account.email", "account.phone", "account.password"],
            "user", producer="auth", outputs=["users_db.accounts"], maybe_violate=False,
        )  # fmt: skip
        if rng.random() < 0.3:
            at += timedelta(seconds=rng.randint(1, 5))
            self.collect(
                user, at, "signup", ["partner.login_profile"], "third_party",
                producer="auth", partner="login_partner", maybe_violate=False,
            )  # fmt: skip
        at += timedelta(seconds=rng.randint(5, 40))
        self._put(
            user,
            PolicyAccepted(
                **self._common(user, at, "auth", self._tag("signup")), policy_version=POLICY_VERSION
            ),
        )
        at += timedelta(seconds=rng.randint(2, 20))
        if rng.random() < 0.05:
            user.cookies_all = False
            self.consent(user, at, "cookie_choice", "cookies:all", False)
        else:
            if rng.random() < 0.15:
                user.ads = False
                self.consent(user, at, "cookie_choice", "cookies:ad_personalization", False)
            if rng.random() < 0.10:
                user.analytics = False
                self.consent(user, at, "cookie_choice", "cookies:analytics_demographics", False)
        if rng.random() < 0.15:
            user.newsletter = False
            self.consent(user, at, "newsletter_optout", "channel:newsletter", False)
        if user.mobile:
            for permission, share in (
                ("camera", 0.5),
                ("location", 0.4),
                ("storage", 0.3),
                ("contacts", 0.1),
            ):
                if rng.random() < share:
                    at += timedelta(seconds=rng.randint(1, 30))
                    user.device[permission] = True
                    self.consent(user, at, "device_permission", f"device:{permission}", True)
        if rng.random() < 0.4:
            user.public_review = True
            self.consent(user, at, "signup", "public_review", True)
        if rng.random() < 0.06:
            user.partners.add(PROMOTION_PARTNER)
            self.consent(user, at, "partner_consent", f"recipient:{PROMOTION_PARTNER}", True)
        return at

    def history(self) -> None:
        """Sign-ups of existing users before the first day, and old closures for retention."""
        history_start = max(self.start - timedelta(days=60), POLICY_EFFECTIVE + timedelta(hours=1))
        span = max((self.start - history_start).total_seconds() - 86_400, 3_600)
        for user in self.users:
            if user.rng.random() < 0.08:
                continue  # signs up during the simulated days
            at = history_start + timedelta(seconds=user.rng.uniform(0, span))
            at = self.signup(user, at)
        # a few accounts closed long ago: the deletions that follow, some late or missing
        latest_signup = self.start - timedelta(days=52)
        closable = [
            u for u in self.users if u.signed_up and u.last is not None and u.last < latest_signup
        ]
        count = min(len(closable), max(1, len(self.users) // 150))
        for user in self.rng.sample(closable, count):
            self._old_closure(user)

    def _old_closure(self, user: _User) -> None:
        rng = user.rng
        base = user.last or self.start - timedelta(days=52)
        closed_at = max(base + timedelta(hours=4), self.start - timedelta(days=rng.uniform(44, 50)))
        self.collect(
            user, closed_at - timedelta(hours=3), "order",
            ["transaction.items", "transaction.shipping_address", "transaction.amount"],
            "user", producer="checkout", maybe_violate=False,
        )  # fmt: skip
        problem = None
        if rng.random() < min(1.0, self.rate * 15):
            problem = tuple(RETENTION_SCENARIOS)[
                self._retention_problems % len(RETENTION_SCENARIOS)
            ]
            self._retention_problems += 1
        trace = (
            f"{VIOLATION_TAG}retention_overdue:{problem}"
            if problem
            else self._tag("account_closure")
        )
        closed = self._put(user, AccountClosed(**self._common(user, closed_at, "privacy", trace)))
        user.closed = True
        families = sorted(user.families)
        for family in families:
            if problem and family == "transaction":
                continue
            self._deletion(user, closed_at + timedelta(days=rng.uniform(1, 20)), [family], None)
        if problem == "deletion_late":
            self._deletion(
                user, closed_at + timedelta(days=rng.uniform(33, 40)), ["transaction"], None
            )
        if problem:
            self.violations.append(
                InjectedViolation(
                    closed.event_id,
                    user.subject,
                    "retention_overdue",
                    problem,
                    closed.occurred_at,
                    "transaction",
                )
            )

    def _deletion(
        self, user: _User, at: datetime, families: list[str], request_ref: str | None
    ) -> None:
        self._put(
            user,
            Deletion(
                **self._common(user, at, "privacy", self._tag("deletion")),
                data_categories=families,
                request_ref=request_ref,
            ),
        )

    # -- a day -------------------------------------------------------------------------------

    def day(self, number: int) -> None:
        day_start = self.start + timedelta(days=number)
        for user in self.users:
            urng = user.rng
            if not user.signed_up and not user.closed:
                at = self._time_of_day(urng, day_start)
                self.signup(user, at)
                self._session(
                    user, (user.last or at) + timedelta(minutes=urng.uniform(1, 10)), first=True
                )
            elif user.active():
                self._user_day(user, day_start)
            if user.terminal is not None and user.active():
                scenario, user.terminal = user.terminal, None
                self._violate(
                    user,
                    (user.last or day_start) + timedelta(minutes=urng.uniform(1, 60)),
                    scenario,
                )
        self._rare(day_start, self.rng)

    def _user_day(self, user: _User, day_start: datetime) -> None:
        """One user's day: a plan of timed activities, carried out in time order."""
        urng = user.rng
        plan: list[tuple[datetime, str]] = []
        if user.newsletter and urng.random() < 0.6:
            plan.append(
                (day_start + timedelta(hours=10, seconds=urng.uniform(0, 1800)), "newsletter")
            )
        if urng.random() < user.activity:
            sessions = 1 + (urng.random() < 0.4) + (urng.random() < 0.15)
            plan += [(self._time_of_day(urng, day_start), "session") for _ in range(sessions)]
        if urng.random() < 0.05:
            plan.append(
                (day_start + timedelta(hours=23, minutes=urng.uniform(0, 50)), "infrastructure")
            )
        if urng.random() < 0.03:
            plan.append(
                (day_start + timedelta(hours=2, minutes=urng.uniform(0, 50)), "affiliate_share")
            )
        if urng.random() < 0.02:
            plan.append(
                (day_start + timedelta(hours=3, minutes=urng.uniform(0, 50)), "research_share")
            )
        first = True
        for at, what in sorted(plan):
            if not user.active():
                return
            if what == "session":
                self._session(user, at, first=first)
                first = False
            elif what == "newsletter":
                if user.newsletter:
                    self.use(
                        user, at, "newsletter", ["account.email"], "marketing.communications",
                        producer="marketing", channel="newsletter",
                    )  # fmt: skip
            elif what == "infrastructure":
                self.disclose(
                    user, at, "infrastructure", ["log.ip", "log.access_time"], "service.operations",
                    INFRASTRUCTURE, "infrastructure_provider", producer="platform",
                )  # fmt: skip
            elif what == "affiliate_share":
                self.disclose(
                    user, at, "affiliate_share", ["account.email", "transaction.amount"],
                    "service.financial_products", AFFILIATE, "affiliate", producer="partners",
                )  # fmt: skip
            else:
                self.disclose(
                    user, at, "research_share", ["analytics.demographics", "usage.preferences"],
                    "research.development", RESEARCH_FIRM, "research_firm", producer="analytics",
                )  # fmt: skip

    def _rare(self, day_start: datetime, rng: random.Random) -> None:
        """Activities too rare to leave to per-user chance: at least one each day."""
        active = [u for u in self.users if u.active()]
        if not active:
            return
        per_day = max(1, len(self.users) // 1500)
        for user in rng.sample(active, min(per_day, len(active))):
            at = self._time_of_day(user.rng, day_start)
            self.disclose(
                user, at, "law_enforcement_request",
                ["account.email", "account.phone", "transaction.items", "log.ip"], "legal.compliance",
                LAW_ENFORCEMENT, "law_enforcement", producer="legal", basis="C.8",
                legal_request_ref=f"LP/B/{rng.randint(100, 999)}/{day_start:%m}/{day_start:%Y}/SIBER",
            )  # fmt: skip
        for user in rng.sample(active, min(per_day, len(active))):
            self.disclose(
                user, self._time_of_day(user.rng, day_start), "regulator_request",
                ["account.username", "transaction.amount"], "legal.compliance", REGULATOR, "regulator",
                producer="legal", legal_request_ref=f"KOMDIGI-{day_start:%Y%m%d}-{rng.randint(10, 99)}",
            )  # fmt: skip
        for user in rng.sample(active, min(per_day, len(active))):
            self._put(
                user,
                SubjectRequest(
                    **self._common(
                        user,
                        self._time_of_day(user.rng, day_start),
                        "privacy",
                        self._tag("access_request"),
                    ),
                    request="access",
                ),
            )
        closures = max(1, round(len(self.users) * 0.003))
        for user in rng.sample(active, min(closures, len(active))):
            if user.active():
                self._close(user, self._time_of_day(user.rng, day_start))

    def _close(self, user: _User, at: datetime) -> datetime:
        """A deletion request, the account closed, and every collected family deleted."""
        rng = user.rng
        request = self._put(
            user,
            SubjectRequest(
                **self._common(user, at, "privacy", self._tag("deletion_request")),
                request="deletion",
            ),
        )
        at = user.last or at
        at += timedelta(minutes=rng.uniform(1, 30))
        self._put(
            user, AccountClosed(**self._common(user, at, "privacy", self._tag("account_closure")))
        )
        user.closed = True
        at = user.last or at
        at += timedelta(minutes=rng.uniform(5, 90))
        self._deletion(user, at, sorted(user.families), request.event_id)
        return user.last or at

    def _time_of_day(self, rng: random.Random, day_start: datetime) -> datetime:
        hour = rng.choices(_HOURS, _HOUR_WEIGHTS)[0]
        return day_start + timedelta(hours=hour, seconds=rng.uniform(0, 3599))

    def _session(self, user: _User, at: datetime, *, first: bool) -> None:
        rng = user.rng

        def step(low: float = 2, high: float = 90) -> datetime:
            nonlocal at
            at = max(at, user.last or at) + timedelta(seconds=rng.uniform(low, high))
            return at

        self.collect(
            user, step(), "login", ["log.ip", "log.access_time", "location.ip", "activity.timestamps"],
            "recorded", producer="auth", outputs=["clickstream.logins"],
        )  # fmt: skip
        if first:
            device = (
                ["device.model", "device.os", "device.language", "device.id"]
                if user.mobile
                else ["log.browser"]
            )
            self.collect(
                user, step(), "login", device, "recorded", producer="app" if user.mobile else "web"
            )
        if rng.random() < 0.5:
            self.use(
                user, step(), "fraud_check", ["log.ip", "activity.timestamps"], "security.fraud_monitoring",
                producer="risk",
            )  # fmt: skip
        if not user.active():
            return
        self.collect(
            user, step(), "browse", ["log.pages", "log.referrer", "usage.preferences"], "recorded",
            outputs=["clickstream.pages"],
        )  # fmt: skip
        self.use(
            user,
            step(),
            "browse",
            ["usage.preferences"],
            "service.personalization",
            inputs=["clickstream.pages"],
        )
        if not user.active():
            return
        if user.ads and user.cookies_all and rng.random() < 0.5:
            self.use(
                user, step(), "ads", ["usage.preferences", "log.pages"], "marketing.advertising",
                producer="marketing",
            )  # fmt: skip
        if user.analytics and user.cookies_all and rng.random() < 0.4:
            self.collect(
                user,
                step(),
                "analytics",
                ["analytics.demographics"],
                "recorded",
                producer="analytics",
            )
            self.use(
                user,
                step(),
                "analytics",
                ["analytics.demographics"],
                "research.development",
                producer="analytics",
            )
        if not user.active():
            return
        if user.mobile and rng.random() < 0.2:
            if user.device.get("camera"):
                self.collect(
                    user, step(), "device_feature", ["device_access.camera"], "user", producer="app"
                )
            if user.device.get("location"):
                self.collect(
                    user, step(), "device_feature", ["location.geo"], "recorded", producer="app"
                )
        if user.active() and rng.random() < 0.35:
            self._order(user, step())
            at = max(at, user.last or at)
        if user.active() and rng.random() < 0.06:
            self._support(user, step())
            at = max(at, user.last or at)
        if user.active() and rng.random() < 0.02:
            self.collect(user, step(), "survey", ["survey.response"], "user", producer="marketing")
            self.use(
                user,
                step(),
                "survey",
                ["survey.response"],
                "research.development",
                producer="analytics",
            )
        if user.active() and rng.random() < 0.02:
            user.ads = not user.ads
            self.consent(user, step(), "cookie_choice", "cookies:ad_personalization", user.ads)
        if user.active() and user.newsletter and rng.random() < 0.01:
            user.newsletter = False
            self.consent(user, step(), "newsletter_optout", "channel:newsletter", False)

    def _order(self, user: _User, at: datetime) -> None:
        rng = user.rng

        def step(low: float = 1, high: float = 30) -> datetime:
            nonlocal at
            at = max(at, user.last or at) + timedelta(seconds=rng.uniform(low, high))
            return at

        order_ref = f"orders_db.orders.{user.city}"
        self.collect(
            user, step(), "order",
            ["transaction.items", "transaction.shipping_address", "transaction.payment_channel",
             "transaction.amount", "transaction.datetime"],
            "user", producer="checkout", outputs=[order_ref],
        )  # fmt: skip
        self.collect(user, step(), "payment", [user.payment], "user", producer="payments")
        self.use(
            user, step(), "order", ["transaction.items", "transaction.amount", "transaction.shipping_address"],
            "transaction.fulfilment", producer="checkout", inputs=[order_ref],
        )  # fmt: skip
        self.disclose(
            user, step(), "payment", [user.payment, "transaction.amount"], "transaction.fulfilment",
            user.processor, "payment_processor", producer="payments", basis="C.1",
        )  # fmt: skip
        self.collect(
            user, step(5, 120), "payment", ["partner.service_data"], "third_party",
            producer="payments", partner="payment_partner",
        )  # fmt: skip
        self.use(
            user, step(), "transactional_email", ["account.email", "transaction.items"], "contact.transactional",
            producer="marketing",
        )  # fmt: skip
        courier = rng.choice(LOGISTICS)
        self.disclose(
            user, step(60, 3600), "delivery",
            ["transaction.shipping_address", "account.phone", "transaction.items"], "transaction.fulfilment",
            courier, "logistics_provider", producer="logistics",
        )  # fmt: skip
        if rng.random() < 0.3:
            self.use(
                user,
                step(),
                "fraud_check",
                ["transaction.amount", "log.ip"],
                "security.fraud_monitoring",
                producer="risk",
            )
        self.collect(
            user, step(1800, 7200), "delivery", ["partner.service_data"], "third_party",
            producer="logistics", partner="logistics_partner",
        )  # fmt: skip
        if rng.random() < 0.05:
            self._paylater(user, step())
        if rng.random() < 0.03:
            self.disclose(
                user, step(), "credit_check", ["account.username", "account.phone", "transaction.amount"],
                "service.financial_products", CREDIT_BUREAU, "credit_bureau", producer="risk", basis="C.7",
            )  # fmt: skip
            self.collect(
                user, step(5, 60), "credit_check", ["credit.report"], "third_party", producer="risk",
                partner="credit_bureau",
            )  # fmt: skip
        if PROMOTION_PARTNER in user.partners and rng.random() < 0.2:
            self.disclose(
                user, step(), "partner_disclosure", ["account.email", "transaction.amount"], "marketing.contests",
                PROMOTION_PARTNER, "promotion_partner", producer="partners", basis="C.2",
            )  # fmt: skip
        if rng.random() < 0.25:
            self._review(user, step(3600, 6 * 3600))

    def _paylater(self, user: _User, at: datetime) -> None:
        if PAYLATER_PARTNER not in user.partners:
            user.partners.add(PAYLATER_PARTNER)
            self.consent(user, at, "partner_consent", f"recipient:{PAYLATER_PARTNER}", True)
        at = (user.last or at) + timedelta(seconds=user.rng.uniform(2, 20))
        self.disclose(
            user, at, "partner_disclosure", ["account.email", "account.phone", "transaction.amount"],
            "service.financial_products", PAYLATER_PARTNER, "integrated_partner", producer="partners", basis="C.2",
        )  # fmt: skip
        self.collect(
            user, at + timedelta(seconds=user.rng.uniform(5, 60)), "partner_disclosure",
            ["financial.partner_data"], "third_party", producer="partners", partner="financial_partner",
        )  # fmt: skip

    def _review(self, user: _User, at: datetime) -> None:
        rng = user.rng
        self.collect(
            user,
            at,
            "review",
            ["interaction.review", "interaction.rating"],
            "user",
            producer="reviews",
        )
        at = user.last or at
        if not user.public_review and rng.random() < 0.5:
            user.public_review = True
            self.consent(user, at + timedelta(seconds=2), "review", "public_review", True)
        self.use(
            user, (user.last or at) + timedelta(seconds=rng.uniform(30, 600)), "review",
            ["interaction.review", "interaction.rating"], "service.operations", producer="reviews",
            public=user.public_review,
        )  # fmt: skip

    def _support(self, user: _User, at: datetime) -> None:
        rng = user.rng
        self.collect(user, at, "support_chat", ["support.conversation"], "user", producer="cs")
        self.use(
            user, (user.last or at) + timedelta(seconds=rng.uniform(30, 300)), "support_chat",
            ["support.conversation", "transaction.items"], "support.customer_service", producer="cs",
        )  # fmt: skip
        if rng.random() < 0.3:
            self.disclose(
                user, (user.last or at) + timedelta(seconds=rng.uniform(30, 300)), "support_chat",
                ["support.conversation"], "support.customer_service", VENDOR, "vendor", producer="cs",
            )  # fmt: skip
        if rng.random() < 0.3:
            self.disclose(
                user, (user.last or at) + timedelta(seconds=rng.uniform(30, 300)), "support_chat",
                ["transaction.shipping_address", "support.conversation"], "support.customer_service",
                rng.choice(LOGISTICS), "logistics_provider", producer="cs", basis="C.3",
            )  # fmt: skip

    # -- violations --------------------------------------------------------------------------

    def _maybe_violate(self, user: _User, at: datetime) -> None:
        if self.rate <= 0 or user.rng.random() >= self.rate or not user.active():
            return
        scenario = user.rng.choice(self._scenario_names)
        if scenario in _TERMINAL:
            # ends the account (or all processing): done after the user's day, so that no
            # ordinary event of the day comes after it and breaks the policy untagged
            if user.terminal is None:
                user.terminal = scenario
            return
        self._violate(user, at, scenario)

    def _violate(self, user: _User, at: datetime, scenario: str) -> None:
        reason = SCENARIOS[scenario]
        rng = user.rng
        tag = f"{VIOLATION_TAG}{reason}:{scenario}"
        at = max(at, user.last or at) + timedelta(seconds=rng.uniform(1, 60))
        event: Event
        if scenario == "data_broker":
            event = self.disclose(
                user, at, "", ["account.email", "account.phone", "usage.preferences"], "marketing.advertising",
                DATA_BROKER, "data_broker", producer="marketing", trace_id=tag, maybe_violate=False,
            )  # fmt: skip
        elif scenario == "sale_without_consent":
            event = self.disclose(
                user, at, "", ["account.email", "transaction.items"], "research.development", AFFILIATE,
                "affiliate", producer="partners", transfer="sale", trace_id=tag, maybe_violate=False,
            )  # fmt: skip
        elif scenario == "partner_without_consent":
            event = self.disclose(
                user, at, "", ["account.email", "account.phone", "transaction.amount"],
                "service.financial_products", UNCONSENTED_PARTNER, "integrated_partner", producer="partners",
                trace_id=tag, maybe_violate=False,
            )  # fmt: skip
        elif scenario == "credit_card_to_non_processor":
            event = self.disclose(
                user, at, "", ["payment.credit_card", "transaction.shipping_address"], "transaction.fulfilment",
                rng.choice(LOGISTICS), "logistics_provider", producer="logistics", trace_id=tag,
                maybe_violate=False,
            )  # fmt: skip
        elif scenario == "law_enforcement_without_ref":
            event = self.disclose(
                user, at, "", ["account.email", "log.ip"], "legal.compliance", LAW_ENFORCEMENT,
                "law_enforcement", producer="legal", basis="C.8", trace_id=tag, maybe_violate=False,
            )  # fmt: skip
        elif scenario == "newsletter_after_optout":
            if user.newsletter:
                user.newsletter = False
                self.consent(user, at, "newsletter_optout", "channel:newsletter", False)
            event = self.use(
                user, (user.last or at) + timedelta(minutes=rng.uniform(5, 120)), "", ["account.email"],
                "marketing.communications", producer="marketing", channel="newsletter", trace_id=tag,
                maybe_violate=False,
            )  # fmt: skip
        elif scenario == "ads_after_cookie_optout":
            if user.ads and user.cookies_all:
                user.ads = False
                self.consent(user, at, "cookie_choice", "cookies:ad_personalization", False)
            event = self.use(
                user, (user.last or at) + timedelta(minutes=rng.uniform(1, 30)), "",
                ["usage.preferences", "log.pages"], "marketing.advertising", producer="marketing",
                trace_id=tag, maybe_violate=False,
            )  # fmt: skip
        elif scenario == "analytics_after_optout":
            if user.analytics and user.cookies_all:
                user.analytics = False
                self.consent(user, at, "cookie_choice", "cookies:analytics_demographics", False)
            event = self.collect(
                user, (user.last or at) + timedelta(minutes=rng.uniform(1, 30)), "", ["analytics.demographics"],
                "recorded", producer="analytics", trace_id=tag, maybe_violate=False,
            )  # fmt: skip
        elif scenario == "geo_without_device_location":
            if user.device.get("location"):
                user.device["location"] = False
                self.consent(user, at, "device_permission", "device:location", False)
            event = self.collect(
                user, (user.last or at) + timedelta(seconds=rng.uniform(5, 300)), "", ["location.geo"],
                "recorded", producer="app", trace_id=tag, maybe_violate=False,
            )  # fmt: skip
        elif scenario == "device_access_without_permission":
            if user.device.get("contacts"):
                user.device["contacts"] = False
                self.consent(user, at, "device_permission", "device:contacts", False)
            event = self.collect(
                user, (user.last or at) + timedelta(seconds=rng.uniform(5, 300)), "", ["device_access.contacts"],
                "user", producer="app", trace_id=tag, maybe_violate=False,
            )  # fmt: skip
        elif scenario == "public_review_without_consent":
            if user.public_review:
                user.public_review = False
                self.consent(user, at, "review", "public_review", False)
            self.collect(
                user, (user.last or at) + timedelta(seconds=5), "review", ["interaction.review"], "user",
                producer="reviews", maybe_violate=False,
            )  # fmt: skip
            event = self.use(
                user, (user.last or at) + timedelta(seconds=rng.uniform(30, 600)), "", ["interaction.review"],
                "service.operations", producer="reviews", public=True, trace_id=tag, maybe_violate=False,
            )  # fmt: skip
        elif scenario == "use_after_account_closed":
            closed_at = self._close(user, at)
            event = self.use(
                user, closed_at + timedelta(hours=rng.uniform(1, 5)), "", ["account.email"],
                "marketing.communications", producer="marketing", channel="newsletter", trace_id=tag,
                maybe_violate=False,
            )  # fmt: skip
        elif scenario == "use_after_processing_withdrawn":
            self.consent(user, at, "cookie_choice", "processing:all", False)
            user.withdrawn_all = True
            event = self.use(
                user, (user.last or at) + timedelta(minutes=rng.uniform(5, 60)), "",
                ["usage.preferences", "transaction.items"], "service.personalization", trace_id=tag,
                maybe_violate=False,
            )  # fmt: skip
        else:  # pragma: no cover - SCENARIOS and this chain are kept in step by a test
            raise ValueError(f"unknown scenario {scenario!r}")
        self.violations.append(
            InjectedViolation(event.event_id, user.subject, reason, scenario, event.occurred_at)
        )

    # -- output ------------------------------------------------------------------------------

    def drain(self) -> list[Event]:
        """Events generated since the last drain, in stream order."""
        self._buffer.sort(key=lambda item: (item[0], item[1], item[2]))
        events = [item[3] for item in self._buffer]
        self._buffer.clear()
        return events


def iter_simulation(
    *,
    users: int = 1000,
    days: int = 1,
    seed: int = 0,
    start: date = DEFAULT_START,
    violation_rate: float = 0.02,
    violations: list[InjectedViolation] | None = None,
    activities: Counter[str] | None = None,
) -> Iterator[Event]:
    """The events of :func:`simulate` one day at a time (memory: one day).

    ``violations`` and ``activities``, if given, are filled as the days go.
    The history comes first; each day's events are sorted by ``occurred_at``,
    and no event of a day is earlier than the day before's last one.
    """
    generator = _Generator(
        users=users, days=days, seed=seed, start=start, violation_rate=violation_rate
    )
    generator.history()
    pending: list[Event] = generator.drain()
    for number in range(days):
        generator.day(number)
        today = generator.drain()
        # an event of yesterday's last session can spill past midnight: merge, then cut
        merged = list(heapq.merge(pending, today, key=lambda e: e.occurred_at))
        cut = generator.start + timedelta(days=number)
        split = next((i for i, e in enumerate(merged) if e.occurred_at >= cut), len(merged))
        yield from merged[:split]
        pending = merged[split:]
        if violations is not None:
            violations.extend(generator.violations)
        if activities is not None:
            activities.update(generator.activities)
        generator.violations.clear()
        generator.activities.clear()
    yield from pending


def simulate(
    *,
    users: int = 1000,
    days: int = 1,
    seed: int = 0,
    start: date = DEFAULT_START,
    violation_rate: float = 0.02,
) -> Simulation:
    """The whole simulated period in memory: events in stream order and the injected violations."""
    violations: list[InjectedViolation] = []
    activities: Counter[str] = Counter()
    events = list(
        iter_simulation(
            users=users,
            days=days,
            seed=seed,
            start=start,
            violation_rate=violation_rate,
            violations=violations,
            activities=activities,
        )
    )
    return Simulation(events=events, violations=violations, activities=activities)


def to_utc(value: datetime) -> datetime:
    """The instant in UTC (events carry UTC)."""
    return value.astimezone(UTC)
