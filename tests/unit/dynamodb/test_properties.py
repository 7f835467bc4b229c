"""Properties, checked with hypothesis against small reference models written from
AWS's documentation: the key encoding sorts exactly as DynamoDB orders keys,
conditions evaluate as the documented comparison rules say, and update actions
(SET with arithmetic, if_not_exists and list_append; REMOVE of list elements; ADD;
DELETE) change items as documented."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandlot.protocol import ServiceError
from sandlot.services.dynamodb.expressions import (
    Placeholders,
    apply_update,
    matches,
    parse_condition,
    parse_update,
)
from sandlot.services.dynamodb.values import encode_key_value, encode_number, number_text

PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _sign(x) -> int:
    return (x > 0) - (x < 0)


# -- key ordering --------------------------------------------------------------------------

# DynamoDB numbers: up to 38 significant digits, magnitude 1E-130 .. 9.99...E+125.
numbers = st.builds(
    lambda negative, digits, adjusted: Decimal(
        (int(negative), tuple(int(d) for d in digits), adjusted - len(digits) + 1)
    ),
    st.booleans(),
    st.from_regex(r"[1-9][0-9]{0,37}", fullmatch=True),
    st.integers(min_value=-130, max_value=125),
) | st.just(Decimal(0))


@PROPERTY
@given(numbers, numbers)
def test_number_encoding_sorts_numerically(a: Decimal, b: Decimal) -> None:
    ea, eb = encode_key_value({"N": number_text(a)}), encode_key_value({"N": number_text(b)})
    assert _sign((ea > eb) - (ea < eb)) == _sign((a > b) - (a < b))


@PROPERTY
@given(st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1))
def test_integers_encode_as_their_decimal_does(n: int) -> None:
    # Plain integers take a shortcut past Decimal: it must give the very same bytes.
    assert encode_key_value({"N": str(n)}) == encode_number(Decimal(n))


@PROPERTY
@given(st.text(), st.text())
def test_string_encoding_sorts_by_code_points(a: str, b: str) -> None:
    # UTF-8 byte order is code point order (the reference: code points, not bytes).
    a = a.encode("utf-8", "ignore").decode()
    b = b.encode("utf-8", "ignore").decode()
    ea, eb = encode_key_value({"S": a}), encode_key_value({"S": b})
    ref = [ord(c) for c in a], [ord(c) for c in b]
    assert _sign((ea > eb) - (ea < eb)) == _sign((ref[0] > ref[1]) - (ref[0] < ref[1]))


@PROPERTY
@given(st.binary(), st.binary())
def test_binary_encoding_is_the_bytes(a: bytes, b: bytes) -> None:
    assert encode_key_value({"B": a}) == a and encode_key_value({"B": b}) == b


# -- condition semantics -------------------------------------------------------------------

scalars = st.one_of(
    st.integers(-5, 5).map(lambda n: ("N", Decimal(n))),
    st.sampled_from(["", "a", "ab", "b", "é", "ba"]).map(lambda s: ("S", s)),
)
ATTRS = ("a", "b", "c")
items = st.fixed_dictionaries({}, optional={name: scalars for name in ATTRS})


def _reference_order(op: str, x, y) -> bool:
    """The documented rule: <, <=, >, >= hold only between two numbers or two strings
    (strings by UTF-8 bytes); a missing operand makes them false."""
    if x is None or y is None or x[0] != y[0]:
        return False
    p, q = x[1], y[1]
    if x[0] == "S":
        p, q = p.encode(), q.encode()
    return {"<": p < q, "<=": p <= q, ">": p > q, ">=": p >= q}[op]


def _reference(node, item: dict) -> bool:
    kind = node[0]
    if kind == "and":
        return _reference(node[1], item) and _reference(node[2], item)
    if kind == "or":
        return _reference(node[1], item) or _reference(node[2], item)
    if kind == "not":
        return not _reference(node[1], item)
    if kind == "exists":
        return node[1] in item
    x = item.get(node[1])
    if kind == "begins":
        return x is not None and x[0] == "S" and node[2][0] == "S" and x[1].startswith(node[2][1])
    if kind == "cmp":
        op, y = node[2], node[3]
        if op == "=":
            return x is not None and x == y
        if op == "<>":
            return x is None or x != y
        return _reference_order(op, x, y)
    if kind == "between":
        return _reference_order(">=", x, node[2]) and _reference_order("<=", x, node[3])
    if kind == "in":
        return x is not None and any(x == v for v in node[2])
    raise AssertionError(node)


leaves = st.one_of(
    st.tuples(st.just("cmp"), st.sampled_from(ATTRS),
              st.sampled_from(["=", "<>", "<", "<=", ">", ">="]), scalars),
    st.tuples(st.just("between"), st.sampled_from(ATTRS), scalars, scalars),
    st.tuples(st.just("in"), st.sampled_from(ATTRS), st.lists(scalars, min_size=1, max_size=3)),
    st.tuples(st.just("exists"), st.sampled_from(ATTRS)),
    st.tuples(st.just("begins"), st.sampled_from(ATTRS), scalars),
)  # fmt: skip
trees = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.tuples(st.just("and"), inner, inner),
        st.tuples(st.just("or"), inner, inner),
        st.tuples(st.just("not"), inner),
    ),
    max_leaves=6,
)


def _render(node, values: dict) -> str:
    def value(v) -> str:
        name = f":v{len(values)}"
        values[name] = {v[0]: str(v[1]) if v[0] == "N" else v[1]}
        return name

    kind = node[0]
    if kind in ("and", "or"):
        return f"({_render(node[1], values)} {kind.upper()} {_render(node[2], values)})"
    if kind == "not":
        return f"NOT ({_render(node[1], values)})"
    if kind == "exists":
        return f"attribute_exists({node[1]})"
    if kind == "begins":
        return f"begins_with({node[1]}, {value(node[2])})"
    if kind == "cmp":
        return f"{node[1]} {node[2]} {value(node[3])}"
    if kind == "between":
        return f"{node[1]} BETWEEN {value(node[2])} AND {value(node[3])}"
    return f"{node[1]} IN ({', '.join(value(v) for v in node[2])})"


@PROPERTY
@given(trees, items)
def test_conditions_match_the_reference(tree, item) -> None:
    values: dict = {}
    text = _render(tree, values)
    wire = {k: {v[0]: str(v[1]) if v[0] == "N" else v[1]} for k, v in item.items()}
    parsed = parse_condition(text, "ConditionExpression", Placeholders(values=values))
    assert matches(wire, parsed) is _reference(tree, item), text


# -- update semantics ----------------------------------------------------------------------

small = st.integers(-3, 3)
update_items = st.fixed_dictionaries(
    {},
    optional={
        "n": small,
        "s": st.sets(st.sampled_from("abc"), min_size=1),
        "l": st.lists(small, max_size=3),
        "x": st.sampled_from(["p", "q"]),
    },
)
actions = st.fixed_dictionaries({
    "n": st.one_of(st.none(), st.tuples(st.sampled_from(["plus", "add", "ine"]), small),
                   st.just(("remove",))),
    "s": st.one_of(st.none(), st.tuples(st.sampled_from(["add", "delete"]),
                                        st.sets(st.sampled_from("abc"), min_size=1)),
                   st.just(("remove",))),
    "l": st.one_of(st.none(), st.tuples(st.just("append"), st.lists(small, min_size=1, max_size=2)),
                   st.tuples(st.just("remove_index"), st.integers(0, 3))),
    "x": st.one_of(st.none(), st.tuples(st.just("set"), st.sampled_from(["p", "r"])),
                   st.just(("remove",))),
})  # fmt: skip


def _reference_update(item: dict, plan: dict):
    """The documented effect of each action on plain Python values; "error" where AWS
    refuses (an operand that does not exist)."""
    out = dict(item)
    n, s, lst, x = plan["n"], plan["s"], plan["l"], plan["x"]
    if n is not None:
        if n[0] == "plus":
            if "n" not in item:
                return "error"
            out["n"] = item["n"] + n[1]
        elif n[0] == "add":
            out["n"] = item.get("n", 0) + n[1]
        elif n[0] == "ine":
            out["n"] = item.get("n", n[1])
        else:
            out.pop("n", None)
    if s is not None:
        if s[0] == "add":
            out["s"] = set(item.get("s", set())) | s[1]
        elif s[0] == "delete":
            left = set(item.get("s", set())) - s[1]
            if "s" in item and left:
                out["s"] = left
            else:
                out.pop("s", None)
        else:
            out.pop("s", None)
    if lst is not None:
        if lst[0] == "append":
            if "l" not in item:
                return "error"
            out["l"] = item["l"] + lst[1]
        elif "l" in item and lst[1] < len(item["l"]):
            out["l"] = item["l"][: lst[1]] + item["l"][lst[1] + 1 :]
    if x is not None:
        if x[0] == "set":
            out["x"] = x[1]
        else:
            out.pop("x", None)
    return out


def _to_wire(item: dict) -> dict:
    wire = {}
    for k, v in item.items():
        if k == "n":
            wire[k] = {"N": str(v)}
        elif k == "s":
            wire[k] = {"SS": sorted(v)}
        elif k == "l":
            wire[k] = {"L": [{"N": str(e)} for e in v]}
        else:
            wire[k] = {"S": v}
    return wire


def _from_wire(wire: dict) -> dict:
    out = {}
    for k, v in wire.items():
        if "N" in v:
            out[k] = int(Decimal(v["N"]))
        elif "SS" in v:
            out[k] = set(v["SS"])
        elif "L" in v:
            out[k] = [int(Decimal(e["N"])) for e in v["L"]]
        else:
            out[k] = v["S"]
    return out


def _render_update(plan: dict, values: dict) -> str:
    def value(v) -> str:
        name = f":v{len(values)}"
        values[name] = v
        return name

    clauses: dict[str, list[str]] = {"SET": [], "REMOVE": [], "ADD": [], "DELETE": []}
    n, s, lst, x = plan["n"], plan["s"], plan["l"], plan["x"]
    if n is not None:
        if n[0] == "plus":
            clauses["SET"].append(f"n = n + {value({'N': str(n[1])})}")
        elif n[0] == "add":
            clauses["ADD"].append(f"n {value({'N': str(n[1])})}")
        elif n[0] == "ine":
            clauses["SET"].append(f"n = if_not_exists(n, {value({'N': str(n[1])})})")
        else:
            clauses["REMOVE"].append("n")
    if s is not None:
        if s[0] in ("add", "delete"):
            clauses[s[0].upper()].append(f"s {value({'SS': sorted(s[1])})}")
        else:
            clauses["REMOVE"].append("s")
    if lst is not None:
        if lst[0] == "append":
            listed = value({"L": [{"N": str(e)} for e in lst[1]]})
            clauses["SET"].append(f"l = list_append(l, {listed})")
        else:
            clauses["REMOVE"].append(f"l[{lst[1]}]")
    if x is not None:
        if x[0] == "set":
            clauses["SET"].append(f"x = {value({'S': x[1]})}")
        else:
            clauses["REMOVE"].append("x")
    return " ".join(f"{k} {', '.join(v)}" for k, v in clauses.items() if v)


@PROPERTY
@given(update_items, actions)
def test_updates_match_the_reference(item: dict, plan: dict) -> None:
    values: dict = {}
    text = _render_update(plan, values)
    if not text:
        return
    expected = _reference_update(item, plan)
    tree = parse_update(text, Placeholders(values=values))
    try:
        got = _from_wire(apply_update(_to_wire(item), tree))
    except ServiceError as error:
        assert expected == "error", (text, error.message)
        return
    assert got == expected, text
