-- wrk script: full headless OpenID Connect flows (authorize -> token -> userinfo), one flow at a
-- time per connection. Run with as many threads as connections (-t N -c N) so each connection
-- has its own state machine. Driven by bench/oidc_flows.py, configured through the environment:
--
--   FLOW_KIND    dancu | mockpass
--   PKCE_FILE    lines "verifier challenge" (dancu: cycled; PKCE S256 is enforced)
--   LOGIN_PIN    dancu: the persona's PIN, sent as X-Sandbox-Login
--   CLIENT_ID, CLIENT_BASIC   dancu: the client and its "Basic ..." Authorization value
--
-- A flow counts only when userinfo answers 200; anything else unexpected is an error and the
-- connection starts a new flow.

local kind = os.getenv("FLOW_KIND")
local redirect = "http%3A%2F%2F127.0.0.1%3A8765%2Fcallback"
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  flows, errors, step, code, access_token = 0, 0, 1, nil, nil
  pairs_ = {}
  if kind == "dancu" then
    for line in io.lines(os.getenv("PKCE_FILE")) do
      local verifier, challenge = line:match("(%S+) (%S+)")
      pairs_[#pairs_ + 1] = { verifier, challenge }
    end
  end
  index = (id * 997) % math.max(#pairs_, 1)
end

local function authorize()
  if kind == "dancu" then
    index = index % #pairs_ + 1
    local path = "/oauth2/authorize?client_id=" .. os.getenv("CLIENT_ID") ..
      "&redirect_uri=" .. redirect .. "&response_type=code&scope=openid%20profile%20vneid.identity" ..
      "&state=bench" .. id .. "&nonce=n" .. index .. "&code_challenge=" .. pairs_[index][2] ..
      "&code_challenge_method=S256"
    return wrk.format("GET", path, { ["X-Sandbox-Login"] = os.getenv("LOGIN_PIN") })
  end
  local path = "/v2/oauth/authorize?client_id=bench&redirect_uri=" .. redirect ..
    "&response_type=code&scope=openid%20myinfo.name&state=bench" .. id .. "&nonce=n" .. id
  return wrk.format("GET", path)
end

local function token()
  local form = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  if kind == "dancu" then
    form["Authorization"] = os.getenv("CLIENT_BASIC")
    return wrk.format("POST", "/oauth2/token", form, "grant_type=authorization_code&code=" .. code ..
      "&redirect_uri=" .. redirect .. "&code_verifier=" .. pairs_[index][1])
  end
  return wrk.format("POST", "/v2/oauth/token", form, "grant_type=authorization_code" ..
    "&client_id=bench&code=" .. code .. "&redirect_uri=" .. redirect)
end

local function userinfo()
  local path = kind == "dancu" and "/oauth2/userinfo" or "/v2/oauth/userinfo"
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. access_token })
end

function request()
  if step == 1 then return authorize() end
  if step == 2 then return token() end
  return userinfo()
end

local function failed()
  errors = errors + 1
  step = 1
end

function response(status, headers, body)
  if step == 1 then
    local location = headers["Location"] or headers["location"] or ""
    code = location:match("[?&]code=([^&]+)")
    if (status == 302 or status == 303) and code then step = 2 else failed() end
  elseif step == 2 then
    access_token = body:match('"access_token"%s*:%s*"([^"]+)"')
    if status == 200 and access_token then step = 3 else failed() end
  else
    if status == 200 then flows = flows + 1; step = 1 else failed() end
  end
end

function done(summary, latency, requests)
  local total_flows, total_errors = 0, 0
  for _, thread in ipairs(threads) do
    total_flows = total_flows + thread:get("flows")
    total_errors = total_errors + thread:get("errors")
  end
  io.write(string.format("FLOWS %d ERRORS %d SECONDS %.3f P50_MS %.2f P99_MS %.2f\n",
    total_flows, total_errors, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000))
end
