-- GET load, each request with the bearer token of a random logged-in user.
-- Arguments: <tokens file> <path> [<max id>] [<comma-separated words>]. In the path,
-- {id} becomes a random id in 1..<max id> and {word} the next of the words, in turn.
-- Each status is counted, so that errors can be told apart.
local common = require("common")

setup = common.setup
done = common.report

function init(args)
  common.seed()
  tokens = common.read_lines(args[1])
  path = args[2]
  max_id = tonumber(args[3] or "1")
  words = {}
  for word in string.gmatch(args[4] or "", "[^,]+") do
    words[#words + 1] = word
  end
  turn = 0
  statuses = {}
end

function request()
  local target = path
  if string.find(target, "{id}", 1, true) then
    target = string.gsub(target, "{id}", tostring(math.random(max_id)))
  end
  if #words > 0 then
    turn = turn % #words + 1
    target = string.gsub(target, "{word}", words[turn])
  end
  local token = tokens[math.random(#tokens)]
  return wrk.format("GET", target, { ["Authorization"] = "Bearer " .. token })
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
