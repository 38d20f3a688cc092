"""The ordering service (vaccine_orders.orders.services) on the test database, driven by Hypothesis through random
cap rules and random sequences of create / modify / resend / cancel / close, by two officines sharing a national stock.

After every step:
- no registered order exceeds a cap (per effector, per officine), breaks a box rule or holds a closed cell, checked
  against the CapRule rows, not through the caps engine;
- the national stock is conserved: ProductOffer.stock_taken equals the sum of the registered lines of the product,
  and never exceeds the national stock;
- one order per officine and session; a cancelled order has no line;
and every refusal (OrderError) left the database exactly as it was, every success wrote exactly what was asked.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from sessions_calendar.models import CapRule, ProductOffer
from tests import factories
from vaccine_orders.audit.actors import Actor
from vaccine_orders.orders.caps import CellKey
from vaccine_orders.orders.models import Order, OrderLine
from vaccine_orders.orders.selectors import order_grid
from vaccine_orders.orders.services import OrderError, order_cancel, order_submit

ACTOR = Actor.system("Test de propriétés")
TYPES = ("pharmacist", "doctor", "nurse")

modes = st.one_of(
    st.tuples(st.just("closed"), st.none()),
    st.tuples(st.just("unlimited"), st.none()),
    st.tuples(st.just("per_effector"), st.integers(1, 12)),
    st.tuples(st.just("per_pharmacy"), st.integers(1, 20)),
)
configs = st.fixed_dictionaries(
    {
        # product → (effector type, rank) → (mode, limit); the "rank" product is ordered by injection rank.
        "plain": st.fixed_dictionaries({(t, 0): modes for t in TYPES}),
        "stock": st.fixed_dictionaries({(t, 0): modes for t in TYPES}),
        "rank": st.fixed_dictionaries({("doctor", 1): modes, ("doctor", 2): modes, ("pharmacist", 1): modes}),
        "national_stock": st.integers(0, 40),
        "box_size": st.one_of(st.none(), st.integers(2, 5)),
    }
)


STATS: Counter[str] = Counter()


class OrderingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # Each example runs in a savepoint rolled back at its end: the next starts from an empty database.
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.ready = False
        self.closed = False
        self.tokens = 0
        self.steps = 0
        self.last_success: dict[int, tuple] = {}

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    # --- the world ------------------------------------------------------------------------------------------

    @initialize(config=configs)
    def build(self, config) -> None:
        self.session = factories.OrderSessionFactory()
        self.now = timezone.now()
        products = {
            "plain": factories.ProductFactory(code="plain", name="Vaccin libre"),
            "stock": factories.ProductFactory(code="stock", name="Vaccin au stock national"),
            "rank": factories.ProductFactory(code="rank", name="Vaccin par rang", has_injection_rank=True),
        }
        for name, product in products.items():
            offer = ProductOffer.objects.create(
                session=self.session,
                product=product,
                national_stock=config["national_stock"] if name == "stock" else None,
                box_size=config["box_size"] if name == "stock" else None,
            )
            for (type_code, rank), (mode, limit) in config[name].items():
                CapRule.objects.create(
                    offer=offer,
                    effector_type=factories.effector_type(type_code),
                    injection_rank=rank,
                    mode=mode,
                    limit=limit,
                )
        self.pharmacies = [factories.PharmacyFactory(), factories.PharmacyFactory()]
        for pharmacy in self.pharmacies:
            factories.own_effector(pharmacy, "pharmacist")
            factories.own_effector(pharmacy, "nurse")
            factories.attached_effector(pharmacy, "doctor")
            factories.attached_effector(pharmacy, "doctor")
        self.ready = True

    def snapshot(self) -> tuple:
        orders = tuple(
            (order.pk, order.status, order.version)
            for order in Order.objects.filter(session=self.session).order_by("pk")
        )
        lines = tuple(
            OrderLine.objects.filter(order__session=self.session)
            .order_by("order_id", "effector_id", "product_id", "injection_rank")
            .values_list("order_id", "effector_id", "product_id", "injection_rank", "quantity_requested")
        )
        stock = tuple(ProductOffer.objects.filter(session=self.session).order_by("pk").values_list("stock_taken"))
        return orders, lines, stock

    def lines_of(self, order: Order) -> dict[CellKey, int]:
        return {
            CellKey(e, p, r): q
            for e, p, r, q in order.lines.values_list(
                "effector_id", "product_id", "injection_rank", "quantity_requested"
            )
        }

    def attempt(self, service, **kwargs):
        """(result, None) or (None, the OrderError); counts what happened, to check the run explored both."""
        name = service.__name__
        try:
            result = service(**kwargs)
        except OrderError as error:
            STATS[f"{name} refused ({error.code})"] += 1
            return None, error
        STATS[f"{name} {'duplicate' if getattr(result, 'duplicate', False) else 'done'}"] += 1
        return result, None

    def token(self) -> str:
        self.tokens += 1
        return f"jeton-propriete-{self.tokens:06d}"

    # --- the steps ------------------------------------------------------------------------------------------

    @precondition(lambda self: self.ready)
    @rule(who=st.integers(0, 1), data=st.data(), stale=st.sampled_from([False, False, False, True]))
    def submit(self, who: int, data, stale: bool) -> None:
        """Create, modify or re-create after a cancellation ("Valider"), possibly from an outdated page."""
        pharmacy = self.pharmacies[who]
        self.steps += 1
        specs = order_grid(pharmacy=pharmacy, session=self.session).cells
        chosen = (
            data.draw(st.lists(st.sampled_from(sorted(specs)), min_size=1, max_size=5, unique=True)) if specs else []
        )
        # Mostly plausible quantities (whole boxes where the product needs them), sometimes far above any cap.
        wanted = {
            key: data.draw(st.integers(1, 4)) * (specs[key].box_size or 1)
            if data.draw(st.integers(0, 4))
            else data.draw(st.integers(1, 40))
            for key in chosen
        }
        order = Order.objects.filter(pharmacy=pharmacy, session=self.session).first()
        version = (order.version if order else 0) - (1 if stale else 0)
        token = self.token()
        before = self.snapshot()
        result, error = self.attempt(
            order_submit,
            pharmacy=pharmacy,
            session=self.session,
            quantities=wanted,
            base_version=version,
            submission_token=token,
            actor=ACTOR,
            now=self.now,
        )
        if error is not None:
            assert self.snapshot() == before, f"refused ({error.code}) but something was written"
            if self.closed:
                assert error.code == "closed"
            elif stale:
                assert error.code == "conflict"
            return
        assert not self.closed, "registered after the session closed"
        assert not stale, "registered from an outdated version"
        assert result.order.status == Order.Status.REGISTERED
        assert self.lines_of(result.order) == wanted
        self.last_success[who] = (wanted, result.order.version, token)

    @precondition(lambda self: self.ready)
    @rule(who=st.integers(0, 1))
    def resend(self, who: int) -> None:
        """The same "Valider" arriving twice (double click, resent form): one version only."""
        if who not in self.last_success:
            return
        self.steps += 1
        wanted, version, token = self.last_success[who]
        pharmacy = self.pharmacies[who]
        before = self.snapshot()
        result, error = self.attempt(
            order_submit,
            pharmacy=pharmacy,
            session=self.session,
            quantities=wanted,
            base_version=version - 1,
            submission_token=token,
            actor=ACTOR,
            now=self.now,
        )
        assert self.snapshot() == before
        if error is not None:
            assert error.code in ("closed", "conflict")
            return
        assert result.duplicate

    @precondition(lambda self: self.ready)
    @rule(who=st.integers(0, 1), stale=st.sampled_from([False, False, True]))
    def cancel(self, who: int, stale: bool) -> None:
        self.steps += 1
        order = Order.objects.filter(pharmacy=self.pharmacies[who], session=self.session).first()
        if order is None:
            return
        was_registered = order.status == Order.Status.REGISTERED
        before = self.snapshot()
        _, error = self.attempt(
            order_cancel, order=order, base_version=order.version - (1 if stale else 0), actor=ACTOR, now=self.now
        )
        if error is not None:
            assert self.snapshot() == before
            assert error.code in ("closed", "conflict", "not_registered")
            return
        assert was_registered and not stale and not self.closed
        order.refresh_from_db()
        assert order.status == Order.Status.CANCELLED and not order.lines.exists()
        self.last_success.pop(who, None)

    @precondition(lambda self: self.ready and not self.closed and self.steps >= 4)
    @rule()
    def close(self) -> None:
        """The window closes: from now on every change is refused."""
        self.closed = True
        self.now = self.session.closes_at + timedelta(seconds=1)

    # --- the invariants -------------------------------------------------------------------------------------

    @precondition(lambda self: self.ready)
    @invariant()
    def caps_never_exceeded(self) -> None:
        rules = {
            (r.offer.product_id, r.effector_type_id, r.injection_rank): r
            for r in CapRule.objects.filter(offer__session=self.session).select_related("offer")
        }
        boxes = dict(ProductOffer.objects.filter(session=self.session).values_list("product_id", "box_size"))
        per_pharmacy: dict[tuple, int] = defaultdict(int)
        lines = OrderLine.objects.filter(order__session=self.session, order__status=Order.Status.REGISTERED)
        for line in lines.select_related("effector", "order"):
            cap = rules.get((line.product_id, line.effector.type_id, line.injection_rank))
            assert cap is not None and cap.mode != CapRule.Mode.CLOSED, f"a closed cell was ordered: {line}"
            assert line.quantity_requested > 0
            if boxes[line.product_id]:
                assert line.quantity_requested % boxes[line.product_id] == 0, f"not whole boxes: {line}"
            if cap.mode == CapRule.Mode.PER_EFFECTOR:
                assert line.quantity_requested <= cap.limit, f"per-effector cap exceeded: {line}"
            if cap.mode == CapRule.Mode.PER_PHARMACY:
                per_pharmacy[(line.order.pharmacy_id, cap.pk)] += line.quantity_requested
        for (_, rule_id), total in per_pharmacy.items():
            cap = next(r for r in rules.values() if r.pk == rule_id)
            assert total <= cap.limit, f"per-officine cap exceeded: {total} > {cap}"

    @precondition(lambda self: self.ready)
    @invariant()
    def national_stock_conserved(self) -> None:
        for offer in ProductOffer.objects.filter(session=self.session, national_stock__isnull=False):
            held = sum(
                OrderLine.objects.filter(
                    order__session=self.session, order__status=Order.Status.REGISTERED, product=offer.product
                ).values_list("quantity_requested", flat=True)
            )
            assert offer.stock_taken == held, f"stock taken {offer.stock_taken} ≠ registered lines {held}"
            assert offer.stock_taken <= offer.national_stock

    @precondition(lambda self: self.ready)
    @invariant()
    def one_order_per_pharmacy_and_session(self) -> None:
        for pharmacy in self.pharmacies:
            assert Order.objects.filter(pharmacy=pharmacy, session=self.session).count() <= 1
        assert not OrderLine.objects.filter(order__session=self.session, order__status=Order.Status.CANCELLED).exists()


@pytest.mark.django_db
def test_random_rules_and_sequences_keep_the_ordering_invariants():
    STATS.clear()
    run_state_machine_as_test(
        OrderingMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=15,
            deadline=None,
            # The same exploration on every run and machine (CI must not depend on luck): the variety comes from
            # the number of examples, and the run below checks that each outcome was reached.
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print(dict(STATS))  # noqa: T201 - shown with -s: what the run explored
    # The run explored successes and each kind of refusal, not only one side.
    for outcome in (
        "order_submit done",
        "order_submit duplicate",
        "order_cancel done",
        "order_submit refused (closed)",
        "order_submit refused (conflict)",
        "order_submit refused (invalid)",
    ):
        assert STATS[outcome] > 0, (outcome, dict(STATS))


# --- controls: the machine sees a broken service ------------------------------------------------------------------


def _run_quick() -> None:
    run_state_machine_as_test(
        OrderingMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=15,
            deadline=None,
            derandomize=True,
            phases=[Phase.generate],  # no shrinking: the failure itself is what these controls need
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


@pytest.mark.django_db
def test_the_machine_catches_a_service_that_forgets_the_national_stock(monkeypatch):
    from vaccine_orders.orders import services

    monkeypatch.setattr(services, "_take_stock", lambda **kwargs: None)
    with pytest.raises(AssertionError, match="stock taken"):
        _run_quick()


@pytest.mark.django_db
def test_the_machine_catches_a_service_that_skips_the_caps(monkeypatch):
    from vaccine_orders.orders import services
    from vaccine_orders.orders.caps import CheckResult

    monkeypatch.setattr(services, "check_quantities", lambda **kwargs: CheckResult())
    with pytest.raises(AssertionError, match=r"cap exceeded|not whole boxes|closed cell|stock"):
        _run_quick()
