-- Reads an eMRTD with cardpeek's own e-passport script (its BAC and secure messaging, unchanged),
-- without its dialogs: the script's functions are loaded, its interactive main part is left out,
-- and this loop selects and reads every file of its list, writing "NAME HEX" (or "NAME SW xxxx")
-- lines to OUTPUT. Globals set by the caller (cardpeek -e): SCRIPT (path of e-passport.lua),
-- MRZ (the 28 first characters of a TD3 second line: document number, birth date, expiry, each
-- with its check digit, where cardpeek expects them) and OUTPUT (a file path).
local source = assert(io.open(SCRIPT)):read("*a")
local main = source:find('local MRZ_DATA=""', 1, true)
assert(main, "e-passport.lua has no main part where expected")
assert(load(source:sub(1, main - 1), "e-passport.lua"))()

local out = assert(io.open(OUTPUT, "w"))
if not card.connect() then
  out:write("ERROR no card\n")
else
  card.select(AID_MRTD, 0)
  epass_create_master_keys(MRZ)
  if not epass_create_session_keys() then
    out:write("ERROR BAC refused\n")
  else
    out:write("BAC ok\n")
    for _, file in ipairs(FILES) do
      local sw = epass_select(file["FID"])
      if sw == 0x9000 then
        local data = epass_read_file()
        out:write(file["name"], " ", data and bytes.format(data, "%D") or "unreadable", "\n")
      else
        out:write(file["name"], " SW ", string.format("%04X", sw), "\n")
      end
    end
  end
  card.disconnect()
end
out:close()
os.exit(0)
