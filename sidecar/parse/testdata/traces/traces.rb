# Prints ordinary lines and Ruby backtraces: through Logger (the frames
# under the message), full_message with a cause, and an uncaught exception.
require 'logger'
$stdout.sync = true
log = Logger.new($stdout)
log.formatter = proc { |sev, _, _, msg| "2026-12-01T10:00:00 #{sev} #{msg.is_a?(Exception) ? "#{msg.message} (#{msg.class})\n#{msg.backtrace.join("\n")}" : msg}\n" }
log.info("starting")
def inner; raise ArgumentError, "inner"; end
begin
  begin
    inner
  rescue => e
    raise "outer"
  end
rescue => e
  log.error(e)
  puts e.full_message(highlight: false)
end
log.info("done")
inner
