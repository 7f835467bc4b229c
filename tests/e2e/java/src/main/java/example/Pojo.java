package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaLogger;
import com.amazonaws.services.lambda.runtime.logging.LogLevel;
import java.util.LinkedHashMap;
import java.util.Map;

/** Plain methods named `example.Pojo::method`, no interface. */
public class Pojo {
  /** A bean the runtime fills from the event's JSON. */
  public static class Order {
    private String item;
    private int count;

    public String getItem() { return item; }
    public void setItem(String item) { this.item = item; }
    public int getCount() { return count; }
    public void setCount(int count) { this.count = count; }
  }

  public Map<String, Object> order(Order order) {
    Map<String, Object> answer = new LinkedHashMap<>();
    answer.put("item", order.getItem());
    answer.put("total", order.getCount() * 3);
    return answer;
  }

  /** What the Context says, and a line through LambdaLogger and one on stdout. */
  public Map<String, Object> context(Map<String, Object> event, Context context) {
    LambdaLogger logger = context.getLogger();
    logger.log("logger line " + event.get("marker"));
    logger.log("warning line " + event.get("marker"), LogLevel.WARN);
    System.out.println("stdout line " + event.get("marker"));
    Map<String, Object> answer = new LinkedHashMap<>();
    answer.put("requestId", context.getAwsRequestId());
    answer.put("functionName", context.getFunctionName());
    answer.put("functionVersion", context.getFunctionVersion());
    answer.put("memoryLimit", context.getMemoryLimitInMB());
    answer.put("remainingMs", context.getRemainingTimeInMillis());
    answer.put("logGroup", context.getLogGroupName());
    answer.put("arn", context.getInvokedFunctionArn());
    answer.put("toolOptions", System.getenv("JAVA_TOOL_OPTIONS"));
    answer.put("javaVersion", System.getProperty("java.specification.version"));
    answer.put("property", System.getProperty("sandlot.marker"));
    answer.put("taskRoot", System.getenv("LAMBDA_TASK_ROOT"));
    return answer;
  }

  public String fail(Map<String, Object> event) {
    throw new IllegalStateException("order " + event.get("id") + " is invalid");
  }

  /** No runtime can call this: a handler takes at most an input and a Context. */
  public String wrong(String a, String b, String c) {
    return a + b + c;
  }
}
