-- POST /vote load on one post, by every user in turn: each user's vote is cast, retracted,
-- cast again..., so that every request is a real change (201).
-- Arguments: <file of "token dir" lines, dir being the user's first request (1 or 0)>
-- <post id> <number of wrk threads>.
-- The threads share the users out. A user's next vote is sent only once the previous one
-- is answered (the gateway echoes X-Request-ID, which names the user), so no two votes of a
-- user race; the answer says what the user's vote now is, and after any other answer (a 503)
-- the same direction is sent again. Each status is counted.
local common = require("common")

setup = common.setup
done = common.report

-- wrk gives up on a request after its --timeout (10 s) and reconnects: its user is free again.
local LOST_AFTER_SECONDS = 11

function init(args)
  local threads = tonumber(args[3])
  post_id = tonumber(args[2])
  users = {}
  for index, line in ipairs(common.read_lines(args[1])) do
    if (index - 1) % threads == thread_number - 1 then
      local token, dir = string.match(line, "^(%S+)%s+([01])$")
      users[#users + 1] = { token = token, dir = tonumber(dir), sent_at = nil }
    end
  end
  turn = 0
  sent = 0
  statuses = {}
end

local function is_free(user)
  return user.sent_at == nil or os.time() - user.sent_at > LOST_AFTER_SECONDS
end

function request()
  -- The next user without a vote in flight; there always is one while the users outnumber the
  -- connections (`python -m bench` sees to it).
  for _ = 1, #users do
    turn = turn % #users + 1
    if is_free(users[turn]) then
      break
    end
  end
  local user = users[turn]
  user.sent_at = os.time()
  sent = sent + 1
  local headers = {
    ["Authorization"] = "Bearer " .. user.token,
    ["Content-Type"] = "application/json",
    ["X-Request-ID"] = string.format("hot-%d-%d-%d", thread_number, turn, sent),
  }
  return wrk.format("POST", "/vote", headers, string.format('{"post_id": %d, "dir": %d}', post_id, user.dir))
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  local request_id = headers["x-request-id"] or headers["X-Request-ID"] or ""
  local user = users[tonumber(string.match(request_id, "^hot%-%d+%-(%d+)%-") or "0")]
  if user == nil then
    return
  end
  user.sent_at = nil
  -- 201: done; 409 to a cast: already cast; 404 to a retraction: nothing to retract.
  if status == 201 or (status == 409 and user.dir == 1) or (status == 404 and user.dir == 0) then
    user.dir = 1 - user.dir
  end
end
