package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.events.APIGatewayProxyRequestEvent;
import com.amazonaws.services.lambda.runtime.events.APIGatewayProxyResponseEvent;
import java.util.Map;

/** An API Gateway proxy event in, a proxy response out (aws-lambda-java-events types). */
public class ApiHandler
    implements RequestHandler<APIGatewayProxyRequestEvent, APIGatewayProxyResponseEvent> {
  @Override
  public APIGatewayProxyResponseEvent handleRequest(
      APIGatewayProxyRequestEvent event, Context context) {
    context.getLogger().log("path " + event.getPath());
    String name = event.getQueryStringParameters().get("name");
    return new APIGatewayProxyResponseEvent()
        .withStatusCode(201)
        .withHeaders(Map.of("Content-Type", "text/plain"))
        .withBody(event.getHttpMethod() + " " + event.getPath() + " hello " + name
            + " " + event.getRequestContext().getStage());
  }
}
