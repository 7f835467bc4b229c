package example

import com.amazonaws.services.lambda.runtime.{Context, RequestHandler}

import java.util.{Map => JMap}

// The source documents' handler: a Scala class implementing RequestHandler.
class ScalaHandler extends RequestHandler[JMap[String, String], String] {
  override def handleRequest(event: JMap[String, String], context: Context): String = {
    context.getLogger.log(s"scala got ${event.get("name")}")
    s"Hello from Scala, ${event.get("name")}"
  }
}
