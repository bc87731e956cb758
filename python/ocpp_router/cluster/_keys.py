"""Key and channel names, and the Lua scripts that keep the registry consistent.

Every name starts with the configured prefix (``ocpp:`` by default). Identities and
namespaces are percent-encoded in key names, so any identity is safe.

========================  =========  =====================================================
key / channel             type       meaning
========================  =========  =====================================================
``node:<node>``           string     node heartbeat (JSON info), expires after ``node_ttl``
``ch:<node>``             channel    the node's inbox: call requests, replies, evictions
``cp:<identity>``         string     owner record ``<node>|<generation>``, expires after
                                     ``registry_ttl`` unless renewed
``gen:<identity>``        string     generation counter (INCR per connection; no expiry)
``events``                stream     charge-point events (``XADD MAXLEN ~``)
``state:<ns>:<identity>`` hash       ``ValkeyStorage``: key -> JSON value
``state-ids:<ns>``        set        ``ValkeyStorage``: identities with state in ``ns``
``counter:<name>``        string     ``ValkeyStorage.next_id`` counters
``dedup:<group>:<key>``   string     ``EventConsumer.deduplicate`` markers
========================  =========  =====================================================
"""

from __future__ import annotations

from urllib.parse import quote

from glide import Script

__all__ = ["CLAIM", "REFRESH", "RELEASE", "ROUTE", "Keys", "script"]


def script(code: str) -> Script:
    """A Lua script (glide runs it with EVALSHA and loads it again after an engine restart)."""
    return Script(code)  # type: ignore[no-untyped-call]  # glide's Script.__init__ is unannotated


def _q(text: str) -> str:
    return quote(text, safe="")


class Keys:
    """Names for one prefix."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def node(self, node: str) -> str:
        return f"{self.prefix}node:{node}"

    def channel(self, node: str) -> str:
        return f"{self.prefix}ch:{node}"

    def owner(self, identity: str) -> str:
        return f"{self.prefix}cp:{_q(identity)}"

    def generation(self, identity: str) -> str:
        return f"{self.prefix}gen:{_q(identity)}"

    def stream(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def state(self, namespace: str, identity: str) -> str:
        return f"{self.prefix}state:{_q(namespace)}:{_q(identity)}"

    def state_identities(self, namespace: str) -> str:
        return f"{self.prefix}state-ids:{_q(namespace)}"

    def counter(self, name: str) -> str:
        return f"{self.prefix}counter:{_q(name)}"

    def dedup(self, group: str, key: str) -> str:
        return f"{self.prefix}dedup:{_q(group)}:{key}"


#: A new connection of an identity on this node. KEYS: owner, generation.
#: ARGV: node, ttl ms, prefix, identity. The generation goes up by one (and stays above
#: any owner record that survived a loss of the counter); a previous owner on another node
#: is told on its channel that it was replaced. Returns {generation, previous node or ""}.
CLAIM = script(
    """
local g = redis.call('INCR', KEYS[2])
local prev = redis.call('GET', KEYS[1])
local prev_node = ''
if prev then
  local n, pg = string.match(prev, '^(.*)|(%d+)$')
  if n then
    prev_node = n
    pg = tonumber(pg)
    if pg >= g then
      g = pg + 1
      redis.call('SET', KEYS[2], g)
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. g, 'PX', ARGV[2])
if prev_node ~= '' and prev_node ~= ARGV[1] then
  redis.call('PUBLISH', ARGV[3] .. 'ch:' .. prev_node,
    cjson.encode({t = 'evict', cp = ARGV[4], gen = g, by = ARGV[1]}))
end
return {g, prev_node}
"""
)

#: Delete the owner record if it is still ours. KEYS: owner. ARGV: "<node>|<generation>".
RELEASE = script(
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
)

#: Renew a batch of owner records. KEYS: owner1, generation1, owner2, generation2, ...
#: ARGV: node, ttl ms, generation1, generation2, ... A record that is ours is renewed; a
#: missing one is written back (after an engine restart, or an expiry during a pause)
#: unless a newer generation exists; one held by a newer generation is lost. Returns the
#: 1-based positions of the lost identities: that node closes those connections.
REFRESH = script(
    """
local node, ttl = ARGV[1], ARGV[2]
local lost = {}
for i = 3, #ARGV do
  local k = (i - 3) * 2 + 1
  local owner, genkey = KEYS[k], KEYS[k + 1]
  local gen = tonumber(ARGV[i])
  local mine = node .. '|' .. ARGV[i]
  local cur = redis.call('GET', owner)
  if cur == mine then
    redis.call('PEXPIRE', owner, ttl)
  else
    local other = nil
    if cur then
      other = tonumber(string.match(cur, '|(%d+)$'))
    else
      other = tonumber(redis.call('GET', genkey) or '0')
      if other == gen then other = gen - 1 end
    end
    if other ~= nil and other >= gen then
      table.insert(lost, i - 2)
    else
      redis.call('SET', owner, mine, 'PX', ttl)
      if tonumber(redis.call('GET', genkey) or '0') < gen then
        redis.call('SET', genkey, gen)
      end
    end
  end
end
return lost
"""
)

#: Send a call request to the node that holds the charge point, in one round trip.
#: KEYS: owner. ARGV: prefix, this node, message. Returns {status, node}: 0 not registered,
#: 1 owner's heartbeat expired, 2 nobody listens on the owner's channel, 3 sent,
#: 4 the record names this node (stale: the socket is not here), 5 this node does not
#: listen on its own channel (yet: re-subscribing after an engine restart), so the answer
#: could not come back: nothing was sent.
ROUTE = script(
    """
local cur = redis.call('GET', KEYS[1])
if not cur then return {0, ''} end
local node = string.match(cur, '^(.*)|%d+$')
if not node then return {0, ''} end
if node == ARGV[2] then return {4, node} end
if redis.call('EXISTS', ARGV[1] .. 'node:' .. node) == 0 then return {1, node} end
local mine = redis.call('PUBSUB', 'NUMSUB', ARGV[1] .. 'ch:' .. ARGV[2])
if tonumber(mine[2]) == 0 then return {5, node} end
if redis.call('PUBLISH', ARGV[1] .. 'ch:' .. node, ARGV[3]) == 0 then return {2, node} end
return {3, node}
"""
)
