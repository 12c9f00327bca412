"""A small inventory and pricing service, to show what recapi records.

    python app.py [ROUNDS]

ROUNDS defaults to 15000: about 0.3 s and 1.4 million calls on Debian's
python3.11 (older interpreters take up to 4 times as long). Nothing in it is
annotated, yet its calls have clear types: prices as int or float (a union),
optional customer tiers, quantities as int or str, dicts of quantities, lists
of line items, a generator of restock orders, discount closures and a few
dataclasses. Deterministic: the same output every run. It prints one JSON
line with the totals.

The dataclasses' __init__ methods are generated with exec(): their frames
report file "<string>" and qualname "__create_fn__.<locals>.__init__", and
Order's default_factory field arrives as the dataclasses sentinel
(dataclasses._HAS_DEFAULT_FACTORY_CLASS), which is what really happens.
"""

import json
import sys
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    unit_price: float
    category: str


@dataclass
class StockLevel:
    sku: str
    on_hand: int
    reorder_at: int = 5


@dataclass
class LineItem:
    product: Product
    quantity: int
    discount: float = 0.0

    def subtotal(self):
        return round(self.product.unit_price * self.quantity * (1 - self.discount), 2)


@dataclass
class Order:
    order_id: int
    customer: str
    items: list = field(default_factory=list)
    tier: object = None  # a tier name, or None for walk-in customers

    def total(self):
        return round(sum(map(LineItem.subtotal, self.items)), 2)


class Catalog:
    def __init__(self, products):
        self._by_sku = OrderedDict()
        for product in products:
            self._by_sku[product.sku] = product

    def find(self, sku):
        return self._by_sku.get(sku)

    def in_category(self, category):
        return [p for p in self._by_sku.values() if p.category == category]

    def __len__(self):
        return len(self._by_sku)


class Inventory:
    def __init__(self, levels):
        self.levels = {level.sku: level for level in levels}

    def reserve(self, sku, quantity):
        level = self.levels[sku]
        if level.on_hand < quantity:
            return False
        level.on_hand -= quantity
        return True

    def restock(self, sku, quantity):
        self.levels[sku].on_hand += quantity

    def low_stock(self):
        # A generator: recapid counts one start and one resumption per item.
        for sku, level in self.levels.items():
            if level.on_hand <= level.reorder_at:
                yield sku, level.reorder_at * 4 - level.on_hand


def make_discount(rate, minimum_quantity=1):
    # A closure over its parameters: rate lives in a cell.
    def discount(item):
        if item.quantity >= minimum_quantity:
            return rate
        return 0.0

    return discount


class PriceBook:
    TIER_RATES = {"gold": 0.1, "silver": 0.05}

    def __init__(self, catalog):
        self.catalog = catalog
        self.rules = {
            "tools": make_discount(0.15, minimum_quantity=3),
            "garden": make_discount(0.05),
        }

    def quote(self, sku, quantity, tier=None):
        product = self.catalog.find(sku)
        if product is None:
            raise KeyError(sku)
        item = LineItem(product, quantity)
        rule = self.rules.get(product.category)
        rate = rule(item) if rule is not None else 0.0
        item.discount = max(rate, self.tier_rate(tier))
        return item

    def tier_rate(self, tier):
        if tier is None:
            return 0.0
        return self.TIER_RATES.get(tier, 0.0)


def parse_quantity(value):
    # Orders arrive as ints from the API and as strings from CSV uploads.
    if isinstance(value, str):
        return int(value.strip())
    return value


def apply_tax(amount, rate=0.2):
    return round(amount * (1 + rate), 2)


def build_order(order_id, customer, wanted, book, inventory, tier=None):
    order = Order(order_id, customer, tier=tier)
    for sku, raw_quantity in wanted.items():
        quantity = parse_quantity(raw_quantity)
        if inventory.reserve(sku, quantity):
            order.items.append(book.quote(sku, quantity, tier))
    return order


def summarize(orders):
    revenue = defaultdict(float)
    for order in orders:
        for item in order.items:
            revenue[item.product.category] += item.subtotal()
    return {category: round(total, 2) for category, total in sorted(revenue.items())}


PRODUCTS = [
    Product("T-100", "hammer", 12.5, "tools"),
    Product("T-200", "screwdriver set", 24.0, "tools"),
    Product("T-300", "tape measure", 8, "tools"),
    Product("G-100", "hose", 30.0, "garden"),
    Product("G-200", "rake", 18, "garden"),
    Product("K-100", "kettle", 40.0, "kitchen"),
]
CUSTOMERS = [("ada", "gold"), ("bob", None), ("cy", "silver"), ("dee", None), ("eve", "platinum")]


def run(rounds):
    catalog = Catalog(PRODUCTS)
    inventory = Inventory([StockLevel(p.sku, 50) for p in PRODUCTS])
    book = PriceBook(catalog)
    orders, restocked, rejected = [], 0, 0
    for n in range(rounds):
        for i, (customer, tier) in enumerate(CUSTOMERS):
            product = PRODUCTS[(n + i) % len(PRODUCTS)]
            other = PRODUCTS[(n * 3 + i) % len(PRODUCTS)]
            # Every third order comes from a CSV upload: quantities as text.
            quantity = (n + i) % 4 + 1
            wanted = {product.sku: str(quantity) if i % 3 == 0 else quantity, other.sku: 1}
            order = build_order(len(orders) + 1, customer, wanted, book, inventory, tier)
            if order.items:
                orders.append(order)
            else:
                rejected += 1
        for sku, amount in inventory.low_stock():
            inventory.restock(sku, amount)
            restocked += 1
    gross = round(sum(map(Order.total, orders)), 2)
    return {
        "orders": len(orders),
        "rejected": rejected,
        "restocked": restocked,
        "gross": gross,
        "with_tax": apply_tax(gross),
        "by_category": summarize(orders),
        "tools": len(catalog.in_category("tools")),
        "catalog": len(catalog),
    }


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15000
    result = run(rounds)
    result["python"] = "%d.%d" % sys.version_info[:2]
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
