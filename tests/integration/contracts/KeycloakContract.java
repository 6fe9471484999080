// Keycloak's side of PostgreSQL: pgjdbc (the driver Keycloak ships) with the JDBC URL Keycloak is
// given, one PreparedStatement reused across transactions past pgjdbc's prepareThreshold (5), so
// that it becomes a named server-side statement, while other connections hold transactions open
// (in PgBouncer transaction mode the next transaction then lands on another server connection).
// Args: JDBC URL, user; the password on stdin. Prints one JSON line.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

public class KeycloakContract {
    public static void main(String[] args) throws Exception {
        String url = args[0];
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", new BufferedReader(new InputStreamReader(System.in)).readLine().trim());
        props.setProperty("connectTimeout", "5");
        int rounds = 0;
        boolean server = false;
        String error = "";
        try (Connection c = DriverManager.getConnection(url, props)) {
            c.setAutoCommit(false);
            PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM pg_catalog.pg_class WHERE relkind = ?");
            for (int i = 0; i < 10; i++) {
                List<Connection> holders = new ArrayList<>();
                if (i >= 5) {
                    for (int h = 0; h < 2; h++) {
                        Connection o = DriverManager.getConnection(url, props);
                        o.setAutoCommit(false);
                        o.createStatement().execute("SELECT 1");
                        holders.add(o);
                    }
                }
                ps.setString(1, "r");
                try (ResultSet rs = ps.executeQuery()) { rs.next(); }
                c.commit();
                server = server || ps.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare();
                rounds++;
                for (Connection o : holders) { o.rollback(); o.close(); }
            }
        } catch (Exception e) {
            error = e.getMessage() == null ? e.toString() : e.getMessage();
        }
        System.out.println("{\"rounds\": " + rounds + ", \"server_prepare\": " + server + ", \"error\": \""
            + error.replace("\\", "\\\\").replace("\"", "'").replace("\n", " ") + "\"}");
    }
}
