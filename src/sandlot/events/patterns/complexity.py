"""EventBridge's refusal of wildcard patterns that are "too complex".

EventBridge documents only that a rule whose wildcards are too complex is refused with
``InvalidEventPatternException``. Its engine, event-ruler, measures complexity as the most
wildcard-pattern prefixes one input value can keep alive at once in a field's byte machine
(``MachineComplexityEvaluator``): states on a shared literal prefix count every pattern
through them, states after a wildcard count their own pattern. AWS publishes no limit;
sandlot refuses above `LIMIT`, the value consistent with refusals seen from the service
(three ``*:stack/<name>/*`` alternatives accepted, four refused).
"""

from __future__ import annotations

from sandlot.events.patterns.values import wildcard_tokens

LIMIT = 10
STAR = 256
MESSAGE = (
    "Rule is too complex - try using fewer wildcard characters or fewer repeating "
    "character sequences after a wildcard character"
)
_MAX_SUBSETS = 20_000  # bound the walk; real patterns settle in far fewer


class _State:
    __slots__ = ("literal", "any", "weight", "prefix", "star")

    def __init__(self) -> None:
        self.literal: dict[int, list[int]] = {}
        self.any: list[int] = []
        self.weight: set[str] = set()
        self.prefix: dict[int, int] = {}  # shared literal prefix (before the first '*')
        self.star = 0  # the shared '*' state after this prefix, 0 if none yet


def complexity(operands: list[str]) -> int:
    """The complexity of one field's wildcard operands (capped just above `LIMIT`)."""
    states = [_State()]
    finals: dict[str, int] = {}
    for operand in dict.fromkeys(operands):
        tokens = wildcard_tokens(operand)
        current, previous, determinate = 0, -1, True
        for i, token in enumerate(tokens):
            last = i == len(tokens) - 1
            shared = determinate  # still on the literal prefix patterns share
            nxt = 0
            if last:
                nxt = finals.get(operand, 0)
            elif token == STAR:
                if determinate:
                    nxt = states[current].star
                determinate = False
            elif determinate:
                nxt = states[current].prefix.get(token, 0)
            created = nxt == 0
            if created:
                nxt = len(states)
                states.append(_State())
                if last:
                    finals[operand] = nxt
                elif token == STAR:
                    if shared:
                        states[current].star = nxt
                elif determinate:
                    states[current].prefix[token] = nxt
            if token == STAR:
                if not states[nxt].any:
                    states[current].any.append(nxt)
                    states[nxt].any.append(nxt)
            elif last or created:
                states[current].literal.setdefault(token, []).append(nxt)
                if i > 0 and tokens[i - 1] == STAR:  # '*' may match nothing
                    states[previous].literal.setdefault(token, []).append(nxt)
            states[nxt].weight.add(operand)
            previous, current = current, nxt
    if len(states) == 1:
        return 0
    alphabet = {b for state in states for b in state.literal}
    symbols = [STAR, *sorted(alphabet)]  # STAR stands for a byte with no literal edge
    pending = [(0,)]
    seen = {(0,)}
    worst = 0
    while pending and len(seen) < _MAX_SUBSETS:
        active = pending.pop()
        for symbol in symbols:
            reached: set[int] = set()
            for sid in active:
                reached.update(states[sid].any)
                if symbol != STAR:
                    reached.update(states[sid].literal.get(symbol, ()))
            if not reached:
                continue
            score = 0
            for sid in reached:
                score += len(states[sid].weight)
                score += sum(len(states[w].weight) for w in states[sid].any if w not in reached)
            if score > LIMIT:
                return score
            worst = max(worst, score)
            key = tuple(sorted(reached))
            if key not in seen:
                seen.add(key)
                pending.append(key)
    return worst
