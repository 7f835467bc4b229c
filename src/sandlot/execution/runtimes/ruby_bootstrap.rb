# sandlot's runtime client for ruby3.X: the loop AWS's Ruby runtime runs on the Lambda
# Runtime API. INIT loads the handler named by _HANDLER once ("file.method", or
# "file.Module::Class.method"); each invocation calls it with the event (a Hash) and a
# context as keyword arguments and posts the JSON of its result; an exception becomes
# {errorMessage, errorType: "Function<Class>", stackTrace}, at INIT "Init<Class>".
require 'json'
require 'socket'

$stdout.sync = true
$stderr.sync = true

# The context a handler receives (the attributes of AWS's LambdaContext).
class LambdaContext
  attr_reader :aws_request_id, :invoked_function_arn, :log_group_name, :log_stream_name,
              :function_name, :memory_limit_in_mb, :function_version, :identity,
              :client_context, :deadline_ms

  def initialize(headers)
    @aws_request_id = headers['lambda-runtime-aws-request-id']
    @invoked_function_arn = headers['lambda-runtime-invoked-function-arn']
    @deadline_ms = headers['lambda-runtime-deadline-ms'].to_i
    @log_group_name = ENV['AWS_LAMBDA_LOG_GROUP_NAME']
    @log_stream_name = ENV['AWS_LAMBDA_LOG_STREAM_NAME']
    @function_name = ENV['AWS_LAMBDA_FUNCTION_NAME']
    @memory_limit_in_mb = ENV['AWS_LAMBDA_FUNCTION_MEMORY_SIZE']
    @function_version = ENV['AWS_LAMBDA_FUNCTION_VERSION']
    @identity = parse(headers['lambda-runtime-cognito-identity'])
    @client_context = parse(headers['lambda-runtime-client-context'])
  end

  def get_remaining_time_in_millis
    [@deadline_ms - (Time.now.to_f * 1000).to_i, 0].max
  end

  private

  def parse(text)
    text && !text.empty? ? JSON.parse(text) : nil
  end
end

# The Runtime API over one kept-alive connection. sandlot's Runtime API answers
# HTTP/1.1 with a Content-Length, so a few lines over a socket do: net/http would add
# about 30 ms (its require) to every cold start.
class RuntimeConnection
  def initialize(address)
    @host, port = address.split(':')
    @port = port.to_i
  end

  # [status, headers (lower-case names), body]
  def request(method, path, body = nil, extra_headers = {})
    head = +"#{method} #{path} HTTP/1.1\r\nHost: #{@host}\r\n"
    extra_headers.each { |name, value| head << "#{name}: #{value}\r\n" }
    head << "Content-Length: #{body.bytesize}\r\n" if body
    socket.write(head << "\r\n", body || '')
    status, headers, body = read_response
    close if headers['connection']&.casecmp?('close')
    [status, headers, body]
  end

  private

  def socket
    @socket ||= TCPSocket.new(@host, @port).tap do |connected|
      connected.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
    end
  end

  def read_response
    status_line = @socket.gets("\r\n") or raise EOFError, 'the Runtime API closed the connection'
    headers = {}
    while (line = @socket.gets("\r\n")) && line != "\r\n"
      name, value = line.split(':', 2)
      headers[name.downcase] = value.strip
    end
    length = headers.fetch('content-length', '0').to_i
    body = length.positive? ? @socket.read(length) : +''
    [status_line.split(' ', 3)[1].to_i, headers, body.force_encoding(Encoding::UTF_8)]
  end

  def close
    @socket&.close
    @socket = nil
  end
end

module SandlotRuntime
  API = "/2018-06-01/runtime".freeze

  module_function

  def runtime_api
    @runtime_api ||= RuntimeConnection.new(ENV.fetch('AWS_LAMBDA_RUNTIME_API'))
  end

  def post(path, body, headers = {})
    runtime_api.request('POST', "#{API}#{path}", body,
                        { 'Content-Type' => 'application/json' }.merge(headers))
  end

  def error_body(exception, phase)
    JSON.generate(errorMessage: exception.message, errorType: "#{phase}<#{exception.class}>",
                  stackTrace: exception.backtrace || [])
  end

  def report(exception, phase, path)
    body = error_body(exception, phase)
    $stdout.puts(body) # AWS's runtime writes the error to the log too
    post(path, body, 'Lambda-Runtime-Function-Error-Type' => "#{phase}<#{exception.class}>")
  end

  # The callable _HANDLER names; raises what loading raises.
  def load_handler(name)
    file, target = name.split('.', 2)
    raise ArgumentError, "Handler #{name.inspect} is not of the form file.method" if target.nil?

    require File.join(ENV.fetch('LAMBDA_TASK_ROOT', Dir.pwd), file)
    owner, _, method_name = target.rpartition('.')
    receiver = owner.empty? ? Object.new : Object.const_get(owner)
    receiver.method(method_name)
  end

  def run
    handler = begin
      load_handler(ENV.fetch('_HANDLER', ''))
    rescue Exception => e # rubocop:disable Lint/RescueException -- SyntaxError, LoadError too
      report(e, 'Init', '/init/error')
      exit!(1)
    end
    loop do
      _status, headers, body = runtime_api.request('GET', "#{API}/invocation/next")
      context = LambdaContext.new(headers)
      id = context.aws_request_id
      ENV['_X_AMZN_TRACE_ID'] = headers['lambda-runtime-trace-id'] || ''
      begin
        event = JSON.parse(body)
        result = handler.call(event: event, context: context)
        post("/invocation/#{id}/response", JSON.generate(result))
      rescue Exception => e # rubocop:disable Lint/RescueException
        raise if e.is_a?(SystemExit)

        report(e, 'Function', "/invocation/#{id}/error")
      end
    end
  end
end

SandlotRuntime.run
