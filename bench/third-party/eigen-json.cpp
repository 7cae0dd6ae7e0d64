// C++ benchmark over two header-only libraries (Eigen, nlohmann::json): a linear solve, a
// symmetric eigenproblem and JSON round trips, printing a deterministic summary.
#include <Eigen/Dense>
#include <nlohmann/json.hpp>
#include <cstdio>
#include <map>
#include <string>
#include <vector>
using Eigen::MatrixXd;
using Eigen::VectorXd;
int main() {
  const int n = 120;
  MatrixXd a(n, n);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) a(i, j) = ((i * 31 + j * 17) % 97) / 97.0 + (i == j ? n : 0);
  VectorXd b = VectorXd::LinSpaced(n, 1.0, 2.0);
  double checksum = 0;
  for (int round = 0; round < 8; round++) {
    VectorXd x = a.partialPivLu().solve(b);
    checksum += x.sum();
    Eigen::SelfAdjointEigenSolver<MatrixXd> eig(a + a.transpose());
    checksum += eig.eigenvalues().maxCoeff() / 1000.0;
    a(round, round) += 1.0;
  }
  nlohmann::json doc;
  for (int i = 0; i < 4000; i++) doc["items"].push_back({{"id", i}, {"name", "item" + std::to_string(i % 97)}, {"w", i * 0.25}});
  std::map<std::string, double> totals;
  for (int round = 0; round < 6; round++) {
    nlohmann::json back = nlohmann::json::parse(doc.dump());
    for (auto &item : back["items"]) totals[item["name"].get<std::string>()] += item["w"].get<double>();
  }
  std::printf("%.6f %zu %.2f %zu\n", checksum, totals.size(), totals["item5"], doc.dump().size());
  return 0;
}
