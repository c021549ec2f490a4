-- wrk script: a mixed load of the service's main uses, each connection cycling through
--   1 lookup        GET  /v1/citizens/{pin}                     (200)
--   2 verification  POST /v1/citizens/verify                    (200)
--   3 chip          POST /v1/cards/verify with a chip read      (200, verdict pass)
--   4 login         GET  /oauth2/authorize + X-Sandbox-Login    (303 with a code)
--   5 token         POST /oauth2/token, code + PKCE verifier    (200 with an access token)
-- Run with as many threads as connections (-t N -c N): each connection keeps its own state.
-- Driven by bench/load.py, configured through the environment:
--   MIX_TOKEN      the load client's access token (client credentials)
--   MIX_BASIC      "Basic ..." of the load client, MIX_CLIENT its id
--   MIX_PINS       file of lines "pin<TAB>full name" (lookups and verifications cycle through)
--   MIX_CHIP       file with the JSON body of one chip verification
--   MIX_LOGIN_PIN  the persona logging in, MIX_PKCE file of lines "verifier challenge"
-- Anything unexpected counts as an error of its kind; done() prints one line of totals.

local redirect = "http%3A%2F%2F127.0.0.1%3A8765%2Fcallback"
local kinds = { "lookup", "verify", "chip", "login", "token" }
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local function lines(path)
  local out = {}
  for line in io.lines(path) do out[#out + 1] = line end
  return out
end

function init(args)
  step, code = 1, nil
  ok, bad = {}, {}
  for _, kind in ipairs(kinds) do ok[kind], bad[kind] = 0, 0 end
  people = {}
  for _, line in ipairs(lines(os.getenv("MIX_PINS"))) do
    local pin, name = line:match("([^\t]+)\t(.+)")
    people[#people + 1] = { pin, name }
  end
  pkce = {}
  for _, line in ipairs(lines(os.getenv("MIX_PKCE"))) do
    local verifier, challenge = line:match("(%S+) (%S+)")
    pkce[#pkce + 1] = { verifier, challenge }
  end
  local file = io.open(os.getenv("MIX_CHIP"), "r")
  chip = file:read("*a")
  file:close()
  bearer = "Bearer " .. os.getenv("MIX_TOKEN")
  person, pair = (id * 7919) % #people + 1, (id * 997) % #pkce + 1
end

local function json_escape(text)
  return text:gsub('\\', '\\\\'):gsub('"', '\\"')
end

function request()
  local json = { ["Authorization"] = bearer, ["Content-Type"] = "application/json" }
  if step == 1 then
    person = person % #people + 1
    return wrk.format("GET", "/v1/citizens/" .. people[person][1], { ["Authorization"] = bearer })
  elseif step == 2 then
    local body = '{"pin": "' .. people[person][1] .. '", "full_name": "' ..
      json_escape(people[person][2]) .. '"}'
    return wrk.format("POST", "/v1/citizens/verify", json, body)
  elseif step == 3 then
    return wrk.format("POST", "/v1/cards/verify", json, chip)
  elseif step == 4 then
    pair = pair % #pkce + 1
    local path = "/oauth2/authorize?client_id=" .. os.getenv("MIX_CLIENT") ..
      "&redirect_uri=" .. redirect .. "&response_type=code&scope=openid%20profile" ..
      "&state=s" .. id .. "&nonce=n" .. pair .. "&code_challenge=" .. pkce[pair][2] ..
      "&code_challenge_method=S256"
    return wrk.format("GET", path, { ["X-Sandbox-Login"] = os.getenv("MIX_LOGIN_PIN") })
  end
  local form = { ["Authorization"] = os.getenv("MIX_BASIC"),
                 ["Content-Type"] = "application/x-www-form-urlencoded" }
  return wrk.format("POST", "/oauth2/token", form, "grant_type=authorization_code&code=" ..
    code .. "&redirect_uri=" .. redirect .. "&code_verifier=" .. pkce[pair][1])
end

local function expected(status, headers, body)
  if step == 1 then return status == 200 end
  if step == 2 then return status == 200 and body:find('"verdict"', 1, true) ~= nil end
  if step == 3 then return status == 200 and body:find('"verdict":"pass"', 1, true) ~= nil end
  if step == 4 then
    local location = headers["Location"] or headers["location"] or ""
    code = location:match("[?&]code=([^&]+)")
    return status == 303 and code ~= nil
  end
  return status == 200 and body:find('"access_token"', 1, true) ~= nil
end

function response(status, headers, body)
  local kind = kinds[step]
  if expected(status, headers, body) then
    ok[kind] = ok[kind] + 1
    step = step % #kinds + 1
  else
    bad[kind] = bad[kind] + 1
    step = 1
  end
end

function done(summary, latency, requests)
  local line = {}
  local total_ok, total_bad = 0, 0
  for _, kind in ipairs(kinds) do
    local k_ok, k_bad = 0, 0
    for _, thread in ipairs(threads) do
      k_ok = k_ok + thread:get("ok")[kind]
      k_bad = k_bad + thread:get("bad")[kind]
    end
    total_ok, total_bad = total_ok + k_ok, total_bad + k_bad
    line[#line + 1] = string.format('"%s": [%d, %d]', kind, k_ok, k_bad)
  end
  io.write(string.format('MIX {"ok": %d, "errors": %d, "socket_errors": %d, "seconds": %.3f, ' ..
    '"p50_ms": %.2f, "p99_ms": %.2f, "kinds": {%s}}\n', total_ok, total_bad,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    table.concat(line, ", ")))
end
