-- POST /vote load: dir=1 on a random post in 1..<max post id>, as a random logged-in user.
-- Arguments: <tokens file> <max post id>. Each status is counted: 201 is a new vote,
-- 409 a pair (user, post) that had already voted.
local common = require("common")

setup = common.setup
done = common.report

function init(args)
  common.seed()
  tokens = common.read_lines(args[1])
  max_post_id = tonumber(args[2])
  statuses = {}
end

function request()
  local body = string.format('{"post_id": %d, "dir": 1}', math.random(max_post_id))
  local headers = {
    ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)],
    ["Content-Type"] = "application/json",
  }
  return wrk.format("POST", "/vote", headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
