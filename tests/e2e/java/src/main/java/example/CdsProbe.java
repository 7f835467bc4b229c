package example;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.Map;

/** How this JVM was started and where the RIC's main class came from (class-data sharing). */
public class CdsProbe {
  public Map<String, Object> handle(Map<String, Object> event) throws Exception {
    Map<String, Object> answer = new LinkedHashMap<>();
    answer.put("arguments", ManagementFactory.getRuntimeMXBean().getInputArguments());
    // JAVA_TOOL_OPTIONS=-Xlog:class+load=info:file=/tmp/classes.log: each class's source,
    // "shared objects file (top)" for one mapped from the dynamic archive.
    String ric = "", own = "";
    int fromJars = 0;  // the RIC's (and its serialisation's) classes not from an archive
    if (Files.exists(Paths.get("/tmp/classes.log"))) {
      for (String line : Files.readAllLines(Paths.get("/tmp/classes.log"))) {
        if (line.contains(" com.amazonaws.") && line.contains("source: file:")) {
          fromJars++;
        }
        if (line.contains("api.client.AWSLambda source:")) {
          ric = line.substring(line.indexOf("source:") + 8);
        } else if (line.contains("example.CdsProbe source:")) {
          own = line.substring(line.indexOf("source:") + 8);
        }
      }
    }
    answer.put("ricSource", ric);
    answer.put("ownSource", own);
    answer.put("ricClassesFromJars", fromJars);
    return answer;
  }
}
