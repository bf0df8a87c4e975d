-- A chat room for hangard's rooms (docs/rooms.md, "Scripts").
--
-- Players pick nicknames, lines are capped in length, a newcomer gets the last lines, and the
-- room's owner (whoever has been in it longest: room.players()[1]) may kick someone, who then
-- cannot come back into this room.
--
-- Options (POST /v1/rooms {"script": "chat", "options": {...}}), all optional:
--   max_len = 1..2000 characters per line (300), history = 0..200 lines kept (50)
-- Client -> room:
--   hello   {name?}            a newcomer's first message: sets the nickname if given, answers
--                              "history" to it alone
--   nick    {name}             1..24 characters of letters, digits, _ and -, not taken
--   say     {text}             1..max_len characters; "/nick NAME" and "/kick NAME" work too
--   kick    {name}             the owner only: the player's socket is closed (4010)
-- Room -> clients:
--   history {lines = [{name, text, at}], names = {player id = name}, owner}   to one player
--   said    {name, text, at}   a chat line (from = its player; at = the room's ms clock)
--   nick    {name, old}        a player's nickname changed (old is null the first time)
--   kicked  {name, by}         someone was kicked; the room's own "leave" message follows
--   refused {ref, reason}      to the sender alone: what it sent is not allowed
-- Unknown types are refused, so no client can forge a "said" line for someone else.

local function refuse(room, player, ref, reason)
  room.send(player, "refused", {ref = ref, reason = reason})
end

local function name_of(room, player) return room.state.names[player] or player:sub(1, 8) end

local function player_named(room, name)
  for p, n in pairs(room.state.names) do
    if n == name then return p end
  end
  return nil
end

local function set_nick(room, player, name)
  local s = room.state
  if type(name) ~= "string" or not name:match("^[%w_%-]+$") or #name > 24 then
    return refuse(room, player, "nick", "a nickname is 1..24 of letters, digits, _ and -")
  end
  local holder = player_named(room, name)
  if holder == player then return end
  if holder then return refuse(room, player, "nick", "the name " .. name .. " is taken") end
  local old = s.names[player]
  s.names[player] = name
  room.broadcast("nick", {name = name, old = old or room.null})
end

local function kick(room, player, name)
  local s = room.state
  if room.players()[1] ~= player then
    return refuse(room, player, "kick", "only the room's owner (its oldest member) kicks")
  end
  local target = type(name) == "string" and player_named(room, name) or nil
  if not target or target == player then
    return refuse(room, player, "kick", "nobody else here is called " .. tostring(name))
  end
  s.banned[target] = true
  room.broadcast("kicked", {name = name, by = name_of(room, player)})
  room.kick(target, "kicked by " .. name_of(room, player))
end

local function say(room, player, text)
  local s = room.state
  local len = type(text) == "string" and utf8.len(text) or nil
  if not len or len == 0 or len > s.max_len then
    return refuse(room, player, "say", "say needs {text = 1.." .. s.max_len .. " characters}")
  end
  local cmd, arg = text:match("^/(%a+)%s+(%S+)%s*$")
  if cmd == "nick" then return set_nick(room, player, arg) end
  if cmd == "kick" then return kick(room, player, arg) end
  local line = {name = name_of(room, player), text = text, at = room.now()}
  if s.history_max > 0 then
    table.insert(s.history, line)
    if #s.history > s.history_max then table.remove(s.history, 1) end
  end
  room.broadcast("said", line)
end

local function bounded(v, lo, hi, default)
  if v == nil then return default end
  if math.type(v) ~= "integer" or v < lo or v > hi then return nil end
  return v
end

return {
  unknown = "refuse",

  -- players may open chat rooms themselves, with sane options
  on_create_request = function(room, player, options)
    if options ~= nil and type(options) ~= "table" then return false, "options is an object" end
    options = options or {}
    if not bounded(options.max_len, 1, 2000, 300) then return false, "max_len is 1..2000" end
    if not bounded(options.history, 0, 200, 50) then return false, "history is 0..200" end
    return true
  end,

  on_create = function(room, options)
    local s = room.state
    options = type(options) == "table" and options or {}
    s.max_len = bounded(options.max_len, 1, 2000, 300) or 300
    s.history_max = bounded(options.history, 0, 200, 50) or 50
    s.history = {}
    s.names = {}
    s.banned = {}
  end,

  on_join = function(room, player)
    if room.state.banned[player] then return false, "you were kicked from this room" end
    return true
  end,

  on_leave = function(room, player) room.state.names[player] = nil end,

  messages = {
    hello = function(room, player, data)
      if type(data) == "table" and data.name ~= nil then set_nick(room, player, data.name) end
      local s = room.state
      room.send(player, "history", {lines = s.history, names = s.names,
                                    owner = room.players()[1] or room.null})
    end,
    nick = function(room, player, data) set_nick(room, player, type(data) == "table" and data.name) end,
    say = function(room, player, data) say(room, player, type(data) == "table" and data.text) end,
    kick = function(room, player, data) kick(room, player, type(data) == "table" and data.name) end,
  },
}
