-- wrk script for tools/bench/run.sh: signed POST /message, one 100-byte message per request.
-- @SIGNATURE@ is replaced with a fresh itsdangerous signature (valid 60 s) before each run.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Channelstream-Secret"] = "@SIGNATURE@"
wrk.body = '[{"channel": "wrk", "user": "wrk", "message": {"text": "' .. string.rep("x", 100) .. '"}}]'
