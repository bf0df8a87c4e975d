-- tic-tac-toe for hangard's rooms (docs/rooms.md, "Scripts").
--
-- The first two players to say hello play X and O; everyone else watches. The script is the
-- referee: it checks whose turn it is and that the cell is free, and after every change it
-- broadcasts the whole game as "state", so a client only ever draws what it is sent.
--
-- Client -> room:
--   hello                      take a free seat (X first, then O) and get the state
--   move    {cell = 0..8}      cells are numbered row by row from the top left
--   rematch                    after a game: when both players asked, a new one starts with
--                              the sides swapped (X always opens)
--   say     {text = "..."}     a chat line (at most 200 characters) -> "said" {text}
-- Room -> clients:
--   state   {board = 9 of "", "X", "O"; x, o = player ids or null; turn = "X" | "O";
--            phase = "waiting" | "playing" | "over"; winner = "X" | "O" | "draw" | null;
--            line = the 3 winning cells or null; reason = "line" | "draw" | "forfeit" | null;
--            last = {cell, mark, by} or null; rematch = {X = bool, O = bool};
--            score = {X, O, draw}; game = 1, 2, ...}
--            broadcast after every change; sent to one player alone as its answer to hello
--   refused {ref = the type, reason = "..."}   to the sender alone: a move or rematch that is
--            not allowed now (not your turn, occupied cell, game over, ...)
--   said    {text}              from = the player who said it
-- Unknown types are refused: with relaying on, any client could send a "state" of its own.

local LINES = {
  {1, 2, 3}, {4, 5, 6}, {7, 8, 9}, -- rows
  {1, 4, 7}, {2, 5, 8}, {3, 6, 9}, -- columns
  {1, 5, 9}, {3, 5, 7},            -- diagonals
}

local function other(mark) return mark == "X" and "O" or "X" end

local function mark_of(room, player)
  if player == room.state.x then return "X" end
  if player == room.state.o then return "O" end
  return nil
end

local function view(room)
  local s = room.state
  local last = room.null
  if s.last then last = s.last end
  local line = room.null
  if s.line then line = {s.line[1] - 1, s.line[2] - 1, s.line[3] - 1} end
  return {
    board = s.board, turn = s.turn, phase = s.phase, game = s.game,
    x = s.x or room.null, o = s.o or room.null,
    winner = s.winner or room.null, reason = s.reason or room.null,
    line = line, last = last, rematch = s.votes, score = s.score,
  }
end

local function announce(room) room.broadcast("state", view(room)) end

local function refuse(room, player, ref, reason)
  room.send(player, "refused", {ref = ref, reason = reason})
end

local function new_game(room)
  local s = room.state
  s.board = {"", "", "", "", "", "", "", "", ""}
  s.turn = "X"
  s.phase = (s.x and s.o) and "playing" or "waiting"
  s.winner, s.line, s.reason, s.last = nil, nil, nil, nil
  s.votes = {X = false, O = false}
  s.game = s.game + 1
end

local function finish(room, winner, reason, line)
  local s = room.state
  s.phase, s.winner, s.reason, s.line = "over", winner, reason, line
  s.score[winner] = s.score[winner] + 1 -- "X", "O" or "draw"
end

local function judge(room)
  local b = room.state.board
  for _, l in ipairs(LINES) do
    local m = b[l[1]]
    if m ~= "" and b[l[2]] == m and b[l[3]] == m then
      finish(room, m, "line", l)
      return
    end
  end
  for i = 1, 9 do
    if b[i] == "" then return end
  end
  finish(room, "draw", "draw", nil)
end

return {
  unknown = "refuse",

  -- players may open a tic-tac-toe room themselves (POST /v1/rooms {"script": "tictactoe"})
  on_create_request = function(room, player, options) return true end,

  on_create = function(room, options)
    local s = room.state
    s.game = 0
    s.score = {X = 0, O = 0, draw = 0}
    new_game(room)
  end,

  on_leave = function(room, player)
    local s = room.state
    local mark = mark_of(room, player)
    if not mark then return end
    if mark == "X" then s.x = nil else s.o = nil end
    if s.phase == "playing" then
      finish(room, other(mark), "forfeit", nil)
    elseif s.phase == "over" then
      s.votes = {X = false, O = false}
    end
    announce(room)
  end,

  messages = {
    hello = function(room, player)
      local s = room.state
      if mark_of(room, player) or (s.x and s.o) then
        room.send(player, "state", view(room)) -- already seated, or a watcher
        return
      end
      if not s.x then s.x = player else s.o = player end
      if s.x and s.o then
        -- both seats taken: a game starts, unless one is in progress (then the seat was freed
        -- by a forfeit and the board stays to be looked at until the rematch)
        if s.phase == "waiting" then
          s.phase = "playing"
        elseif s.phase == "over" then
          new_game(room)
        end
      end
      announce(room)
    end,

    move = function(room, player, data)
      local s = room.state
      local mark = mark_of(room, player)
      local cell = type(data) == "table" and data.cell or nil
      if not mark then return refuse(room, player, "move", "you are watching, not playing") end
      if s.phase == "waiting" then return refuse(room, player, "move", "waiting for a second player") end
      if s.phase == "over" then return refuse(room, player, "move", "the game is over: ask for a rematch") end
      if mark ~= s.turn then return refuse(room, player, "move", "not your turn: " .. s.turn .. " plays") end
      if math.type(cell) ~= "integer" or cell < 0 or cell > 8 then
        return refuse(room, player, "move", "cell must be an integer 0..8")
      end
      if s.board[cell + 1] ~= "" then
        return refuse(room, player, "move", "cell " .. cell .. " is taken")
      end
      s.board[cell + 1] = mark
      s.last = {cell = cell, mark = mark, by = player}
      s.turn = other(mark)
      judge(room)
      announce(room)
    end,

    rematch = function(room, player)
      local s = room.state
      local mark = mark_of(room, player)
      if not mark then return refuse(room, player, "rematch", "you are watching, not playing") end
      if s.phase ~= "over" then return refuse(room, player, "rematch", "the game is not over") end
      if not (s.x and s.o) then return refuse(room, player, "rematch", "waiting for a second player") end
      s.votes[mark] = true
      if s.votes.X and s.votes.O then
        s.x, s.o = s.o, s.x -- swap sides: the one who played O opens as X
        new_game(room)
      end
      announce(room)
    end,

    say = function(room, player, data)
      local text = type(data) == "table" and data.text or nil
      if type(text) ~= "string" or text == "" or (utf8.len(text) or 201) > 200 then
        return refuse(room, player, "say", "say needs {text = 1..200 characters}")
      end
      room.broadcast("said", {text = text})
    end,
  },
}
